#pragma once
// The one HTTP listener (contract §6): /metrics, /healthz, /readyz and
// GET /v1/docs/{index}/{id}. civetweb serves it on its own threads, so a
// slow client never touches the pipeline; document reads go through the
// store actor with a deadline.

#include <memory>
#include <string>

namespace wcoord {

class coordinator;

class http_server {
public:
  /// `listen` is host:port (port 0 picks a free one). Throws on bind errors.
  http_server(const std::string& listen, coordinator& c);
  ~http_server();

  /// The address actually bound, host:port.
  std::string address() const;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace wcoord
