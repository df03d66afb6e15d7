#include "kafka/handles.hpp"

#include "support/logging.hpp"

namespace wcoord::kafka {

conf_ptr make_conf(const std::map<std::string, std::string>& props,
                   std::string& error) {
  conf_ptr conf{rd_kafka_conf_new()};
  char errstr[512];
  for (const auto& [k, v] : props) {
    if (rd_kafka_conf_set(conf.get(), k.c_str(), v.c_str(), errstr,
                          sizeof(errstr))
        != RD_KAFKA_CONF_OK) {
      error = "kafka." + k + ": " + errstr;
      return nullptr;
    }
  }
  route_logs(conf.get());
  return conf;
}

client_ptr make_client(rd_kafka_type_t type,
                       const std::map<std::string, std::string>& props,
                       std::string& error) {
  auto conf = make_conf(props, error);
  if (!conf)
    return nullptr;
  char errstr[512];
  client_ptr rk{rd_kafka_new(type, conf.get(), errstr, sizeof(errstr))};
  if (!rk) {
    error = errstr;
    return nullptr;
  }
  conf.release(); // owned by the client now
  return rk;
}

void route_logs(rd_kafka_conf_t* conf) {
  // log_cb may run on librdkafka's own threads: the spdlog logger is
  // thread-safe and shared, never actor state.
  rd_kafka_conf_set_log_cb(conf, [](const rd_kafka_t* rk, int level,
                                    const char* fac, const char* buf) {
    static auto log = module_logger("kafka");
    auto lvl = level <= 3   ? spdlog::level::err
               : level <= 4 ? spdlog::level::warn
               : level <= 6 ? spdlog::level::info
                            : spdlog::level::debug;
    log->log(lvl, "[{}] {}: {}", rd_kafka_name(rk), fac, buf);
  });
}

} // namespace wcoord::kafka
