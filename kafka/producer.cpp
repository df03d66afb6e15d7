#include "kafka/producer.hpp"

#include <stdexcept>

#include "support/logging.hpp"

namespace wcoord::kafka {

producer::producer(std::map<std::string, std::string> props,
                   delivery_handler on_delivery)
  : on_delivery_(std::move(on_delivery)) {
  // Invariants after the user's values (ClickHouse's practice): duplicates
  // from producer retries would break "at least once, never reordered".
  props["enable.idempotence"] = "true";
  props["acks"] = "all";
  props.emplace("linger.ms", "5");
  props.emplace("queue.buffering.max.messages", "1000000");
  std::string err;
  auto conf = make_conf(props, err);
  if (!conf)
    throw std::runtime_error(err);
  rd_kafka_conf_set_opaque(conf.get(), this);
  rd_kafka_conf_set_dr_msg_cb(
    conf.get(), [](rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
      auto* self = static_cast<producer*>(opaque);
      std::lock_guard<std::mutex> guard{self->reports_mtx_};
      self->reports_.push_back({reinterpret_cast<uint64_t>(m->_private), m->err,
                                m->partition, m->offset});
    });
  char errstr[512];
  rk_.reset(rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), errstr, sizeof(errstr)));
  if (!rk_)
    throw std::runtime_error(std::string("cannot create producer: ") + errstr);
  conf.release(); // now owned by rk_
  // Delivery reports fire from rd_kafka_poll: one thread serves them so
  // that no actor has to block for it.
  poller_ = std::thread([this] {
    while (running_.load(std::memory_order_relaxed)) {
      rd_kafka_poll(rk_.get(), 100);
      dispatch_reports();
    }
  });
}

void producer::dispatch_reports() {
  std::vector<delivery> batch;
  {
    std::lock_guard<std::mutex> guard{reports_mtx_};
    batch.swap(reports_);
  }
  if (!batch.empty())
    on_delivery_(std::move(batch));
}

producer::~producer() {
  flush(std::chrono::seconds(10));
  running_ = false;
  if (poller_.joinable())
    poller_.join();
  if (auto left = rd_kafka_outq_len(rk_.get()); left > 0)
    module_logger("kafka")->warn("producer closing with {} undelivered records", left);
}

rd_kafka_resp_err_t producer::send(const outgoing_record& r) {
  for (;;) {
    rd_kafka_headers_t* hdrs = nullptr;
    if (!r.headers.empty()) {
      hdrs = rd_kafka_headers_new(r.headers.size());
      for (auto& [k, v] : r.headers)
        rd_kafka_header_add(hdrs, k.data(), k.size(), v.data(), v.size());
    }
    void* key = r.key ? const_cast<char*>(r.key->data()) : nullptr;
    size_t key_len = r.key ? r.key->size() : 0;
    auto err = rd_kafka_producev(
      rk_.get(), RD_KAFKA_V_TOPIC(r.topic.c_str()),
      RD_KAFKA_V_PARTITION(r.partition),
      RD_KAFKA_V_KEY(key, key_len),
      RD_KAFKA_V_VALUE(const_cast<char*>(r.value.data()), r.value.size()),
      RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
      RD_KAFKA_V_OPAQUE(reinterpret_cast<void*>(r.id)), RD_KAFKA_V_END);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
      return err; // headers now owned by the message
    if (hdrs)
      rd_kafka_headers_destroy(hdrs);
    if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
      return err;
    // Back-pressure from librdkafka's own queue: wait for deliveries.
    rd_kafka_flush(rk_.get(), 100);
    dispatch_reports();
  }
}

bool producer::flush(std::chrono::milliseconds timeout) {
  bool ok = rd_kafka_flush(rk_.get(), static_cast<int>(timeout.count()))
            == RD_KAFKA_RESP_ERR_NO_ERROR;
  dispatch_reports();
  return ok;
}

} // namespace wcoord::kafka
