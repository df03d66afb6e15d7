#pragma once
// librdkafka's in-process mock cluster, for `wcoord run` without
// bootstrap.servers and for `wcoord demo`. It listens on loopback, so other
// programs (kcat, producers) can use it while wcoord runs.

#include <memory>
#include <string>
#include <vector>

namespace wcoord::kafka {

class embedded_cluster {
public:
  embedded_cluster();
  ~embedded_cluster();
  embedded_cluster(const embedded_cluster&) = delete;
  embedded_cluster& operator=(const embedded_cluster&) = delete;

  /// host:port list to give clients.
  const std::string& bootstrap_servers() const { return bootstraps_; }

  /// Creates a topic (idempotent).
  void create_topic(const std::string& name, int partitions);

private:
  struct impl;
  std::unique_ptr<impl> impl_;
  std::string bootstraps_;
};

} // namespace wcoord::kafka
