#include "app/http_server.hpp"

#include <CivetServer.h>

#include <chrono>
#include <stdexcept>

#include "app/coordinator.hpp"
#include "engine/json_writer.hpp"

namespace wcoord {

namespace {

/// How long /healthz tolerates a poll loop that does not come back.
constexpr int64_t stall_limit_ms = 30000;

int64_t steady_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

void reply(mg_connection* conn, int status, const char* type, const std::string& body) {
  mg_printf(conn,
            "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
            "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
            status, mg_get_response_code_text(conn, status), type, body.size());
  mg_write(conn, body.data(), body.size());
}

void reply_json(mg_connection* conn, int status, const std::string& body) {
  reply(conn, status, "application/json", body);
}

std::string error_body(int status, const std::string& type, const std::string& reason) {
  std::string out = "{\"error\":{\"type\":";
  json::append_string(out, type);
  out += ",\"reason\":";
  json::append_string(out, reason);
  out += "},\"status\":" + std::to_string(status) + "}";
  return out;
}

class metrics_handler final : public CivetHandler {
public:
  explicit metrics_handler(coordinator& c) : c_(c) {}
  bool handleGet(CivetServer*, mg_connection* conn) override {
    reply(conn, 200, "text/plain; version=0.0.4; charset=utf-8", c_.metrics().scrape());
    return true;
  }

private:
  coordinator& c_;
};

class health_handler final : public CivetHandler {
public:
  explicit health_handler(coordinator& c) : c_(c) {}
  bool handleGet(CivetServer*, mg_connection* conn) override {
    // Alive while the poll loop comes back (or a restore is making it wait).
    const auto& s = c_.status();
    auto age = steady_ms() - s.last_poll_ms.load();
    bool ok = !s.fatal.load() && (s.restoring.load() || age < stall_limit_ms);
    reply_json(conn, ok ? 200 : 503,
               std::string("{\"status\":\"") + (ok ? "ok" : "stalled")
                 + "\",\"last_poll_ms_ago\":" + std::to_string(age) + "}");
    return true;
  }

private:
  coordinator& c_;
};

class ready_handler final : public CivetHandler {
public:
  explicit ready_handler(coordinator& c) : c_(c) {}
  bool handleGet(CivetServer*, mg_connection* conn) override {
    const auto& s = c_.status();
    bool ok = s.ready.load() && !s.restoring.load() && !s.fatal.load();
    reply_json(conn, ok ? 200 : 503,
               std::string("{\"ready\":") + (ok ? "true" : "false")
                 + ",\"assigned_partitions\":" + std::to_string(s.assigned_partitions.load())
                 + ",\"restoring\":" + (s.restoring.load() ? "true" : "false") + "}");
    return true;
  }

private:
  coordinator& c_;
};

/// GET /v1/docs/{index}/{id}, answered like Elasticsearch's GET API.
class docs_handler final : public CivetHandler {
public:
  explicit docs_handler(coordinator& c) : c_(c) {}

  bool handleGet(CivetServer*, mg_connection* conn) override {
    const auto* info = mg_get_request_info(conn);
    std::string_view uri = info->local_uri_raw ? info->local_uri_raw : info->local_uri;
    constexpr std::string_view prefix = "/v1/docs/";
    auto rest = uri.substr(prefix.size());
    auto slash = rest.find('/');
    if (uri.substr(0, prefix.size()) != prefix || slash == std::string_view::npos
        || slash == 0 || slash + 1 >= rest.size()
        || rest.find('/', slash + 1) != std::string_view::npos) {
      reply_json(conn, 400,
                 error_body(400, "illegal_argument_exception",
                            "expected /v1/docs/{index}/{id} (URL-encode '/' in ids)"));
      return true;
    }
    auto index = decode(rest.substr(0, slash));
    auto id = decode(rest.substr(slash + 1));
    if (index.empty() || id.empty() || id.size() > 512) {
      reply_json(conn, 400, error_body(400, "illegal_argument_exception",
                                       "index and id must be non-empty, id at most 512 bytes"));
      return true;
    }
    auto doc = c_.read_document({index, id}, std::chrono::seconds(2));
    if (!doc) {
      reply_json(conn, 503, error_body(503, "unavailable", "the store did not answer in time"));
      return true;
    }
    std::string out = "{\"_index\":";
    json::append_string(out, index);
    out += ",\"_id\":";
    json::append_string(out, id);
    if (*doc && (*doc)->doc.state == document_state::kind::live) {
      out += ",\"_version\":" + std::to_string((*doc)->doc.version)
             + ",\"found\":true,\"_source\":" + (*doc)->doc.source + "}";
      reply_json(conn, 200, out);
    } else {
      out += ",\"found\":false}";
      reply_json(conn, 404, out);
    }
    return true;
  }

private:
  static std::string decode(std::string_view s) {
    std::string out(s.size() + 1, '\0');
    int n = mg_url_decode(s.data(), static_cast<int>(s.size()), out.data(),
                          static_cast<int>(out.size()), 0);
    out.resize(n < 0 ? 0 : static_cast<size_t>(n));
    return out;
  }

  coordinator& c_;
};

class not_found_handler final : public CivetHandler {
public:
  bool handleGet(CivetServer*, mg_connection* conn) override {
    reply_json(conn, 404, error_body(404, "not_found",
                                     "try /metrics, /healthz, /readyz or /v1/docs/{index}/{id}"));
    return true;
  }
};

} // namespace

struct http_server::impl {
  metrics_handler metrics;
  health_handler health;
  ready_handler ready;
  docs_handler docs;
  not_found_handler other;
  std::unique_ptr<CivetServer> server; // last: stops before the handlers go
  std::string host;

  explicit impl(coordinator& c) : metrics(c), health(c), ready(c), docs(c) {}
};

http_server::http_server(const std::string& listen, coordinator& c)
  : impl_(std::make_unique<impl>(c)) {
  auto colon = listen.rfind(':');
  impl_->host = colon == std::string::npos ? "0.0.0.0" : listen.substr(0, colon);
  std::vector<std::string> options{"listening_ports", listen, "num_threads", "4",
                                    "request_timeout_ms", "10000",
                                    "enable_keep_alive", "no"};
  try {
    impl_->server = std::make_unique<CivetServer>(options);
  } catch (const CivetException& e) {
    throw std::runtime_error(std::string("http.listen ") + listen + ": " + e.what());
  }
  impl_->server->addHandler("/metrics", impl_->metrics);
  impl_->server->addHandler("/healthz", impl_->health);
  impl_->server->addHandler("/readyz", impl_->ready);
  impl_->server->addHandler("/v1/docs/", impl_->docs);
  impl_->server->addHandler("**", impl_->other);
}

http_server::~http_server() = default;

std::string http_server::address() const {
  auto ports = impl_->server->getListeningPortsFull();
  if (ports.empty())
    return "";
  return impl_->host + ":" + std::to_string(ports[0].port);
}

} // namespace wcoord
