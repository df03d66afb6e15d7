#include "kafka/embedded_cluster.hpp"

#include <stdexcept>

#include "kafka/handles.hpp" // rdkafka.h must come before rdkafka_mock.h

#include <librdkafka/rdkafka_mock.h>

namespace wcoord::kafka {

struct embedded_cluster::impl {
  client_ptr host; // the mock cluster lives inside this client handle
  rd_kafka_mock_cluster_t* cluster = nullptr;
};

embedded_cluster::embedded_cluster() : impl_(std::make_unique<impl>()) {
  conf_ptr conf{rd_kafka_conf_new()};
  route_logs(conf.get());
  char errstr[512];
  impl_->host.reset(rd_kafka_new(RD_KAFKA_PRODUCER, conf.release(), errstr, sizeof(errstr)));
  if (!impl_->host)
    throw std::runtime_error(std::string("embedded cluster: ") + errstr);
  impl_->cluster = rd_kafka_mock_cluster_new(impl_->host.get(), 1);
  if (!impl_->cluster)
    throw std::runtime_error("embedded cluster: cannot start the mock cluster");
  bootstraps_ = rd_kafka_mock_cluster_bootstraps(impl_->cluster);
}

embedded_cluster::~embedded_cluster() {
  if (impl_->cluster)
    rd_kafka_mock_cluster_destroy(impl_->cluster);
}

void embedded_cluster::create_topic(const std::string& name, int partitions) {
  rd_kafka_mock_topic_create(impl_->cluster, name.c_str(), partitions, 1);
}

} // namespace wcoord::kafka
