#include "app/http_server.hpp"

#include <CivetServer.h>
#include <sys/stat.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <stdexcept>

#include "app/coordinator.hpp"
#include "engine/json_writer.hpp"
#include "support/logging.hpp"

namespace wcoord {

// ------------------------------------------------------------ pure parts

namespace http {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/// RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF.
bool valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      n = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      n = 2;
      if (c == 0xE0)
        lo = 0xA0;
      else if (c == 0xED)
        hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 3;
      if (c == 0xF0)
        lo = 0x90;
      else if (c == 0xF4)
        hi = 0x8F;
    } else {
      return false;
    }
    if (i + n >= s.size())
      return false; // cut short
    auto first = static_cast<unsigned char>(s[i + 1]);
    if (first < lo || first > hi)
      return false;
    for (size_t k = 2; k <= n; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if (cc < 0x80 || cc > 0xBF)
        return false;
    }
    i += n + 1;
  }
  return true;
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

} // namespace

std::optional<std::string> decode_segment(std::string_view raw, std::string& error) {
  std::string out;
  out.reserve(raw.size());
  for (size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] != '%') {
      out += raw[i];
      continue;
    }
    int a = i + 2 < raw.size() ? hex_value(raw[i + 1]) : -1;
    int b = a >= 0 ? hex_value(raw[i + 2]) : -1;
    if (a < 0 || b < 0) {
      error = "malformed percent-encoding: '%' must be followed by two hex digits";
      return std::nullopt;
    }
    char c = static_cast<char>(a * 16 + b);
    if (c == '\0') {
      error = "%00 (NUL) is not allowed in index names or ids";
      return std::nullopt;
    }
    out += c;
    i += 2;
  }
  if (out.find('\0') != std::string::npos) {
    error = "NUL is not allowed in index names or ids";
    return std::nullopt;
  }
  if (!valid_utf8(out)) {
    error = "index names and ids must be UTF-8";
    return std::nullopt;
  }
  return out;
}

bool has_encoded_nul(std::string_view raw_path) {
  for (size_t i = 0; i + 2 < raw_path.size(); ++i)
    if (raw_path[i] == '%' && raw_path[i + 1] == '0' && raw_path[i + 2] == '0')
      return true;
  return raw_path.find('\0') != std::string_view::npos;
}

doc_path parse_doc_path(std::string_view raw) {
  doc_path out;
  constexpr std::string_view prefix = "/v1/docs/";
  if (raw.substr(0, prefix.size()) != prefix) {
    out.error = "expected /v1/docs/{index}/{id} (URL-encode '/' in ids)";
    return out;
  }
  auto rest = raw.substr(prefix.size());
  auto slash = rest.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 >= rest.size()
      || rest.find('/', slash + 1) != std::string_view::npos) {
    out.error = "expected /v1/docs/{index}/{id} (URL-encode '/' in ids)";
    return out;
  }
  std::string error;
  auto index = decode_segment(rest.substr(0, slash), error);
  auto id = index ? decode_segment(rest.substr(slash + 1), error) : std::nullopt;
  if (!index || !id) {
    out.error = error;
    return out;
  }
  if (index->empty() || id->empty() || id->size() > 512) {
    out.error = "index and id must be non-empty, id at most 512 bytes";
    return out;
  }
  out.index = std::move(*index);
  out.id = std::move(*id);
  return out;
}

bool constant_time_equal(std::string_view given, std::string_view expected) {
  // The loop runs over `expected` whatever `given` is; a length difference
  // is folded into the result instead of returning early.
  volatile unsigned char diff = given.size() == expected.size() ? 0 : 1;
  for (size_t i = 0; i < expected.size(); ++i) {
    auto g = static_cast<unsigned char>(i < given.size() ? given[i] : 0);
    diff = static_cast<unsigned char>(diff | (g ^ static_cast<unsigned char>(expected[i])));
  }
  return diff == 0;
}

std::string_view bearer_credentials(std::string_view h) {
  while (!h.empty() && is_space(h.front()))
    h.remove_prefix(1);
  while (!h.empty() && is_space(h.back()))
    h.remove_suffix(1);
  constexpr std::string_view scheme = "bearer";
  if (h.size() <= scheme.size() + 1 || (h[scheme.size()] != ' ' && h[scheme.size()] != '\t'))
    return {};
  for (size_t i = 0; i < scheme.size(); ++i)
    if (static_cast<char>(::tolower(static_cast<unsigned char>(h[i]))) != scheme[i])
      return {};
  h.remove_prefix(scheme.size());
  while (!h.empty() && is_space(h.front()))
    h.remove_prefix(1);
  return h;
}

std::optional<std::string> read_token_file(const std::string& path, std::string& token) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return "cannot read " + path + ": " + std::strerror(errno);
  std::ostringstream ss;
  ss << in.rdbuf();
  std::string t = ss.str();
  if (in.bad())
    return "cannot read " + path;
  size_t b = 0, e = t.size();
  while (b < e && is_space(t[b]))
    ++b;
  while (e > b && is_space(t[e - 1]))
    --e;
  t = t.substr(b, e - b);
  for (char c : t)
    if (c < 0x21 || c > 0x7E)
      return path + ": the token must be visible ASCII characters without spaces";
  if (t.size() < 16)
    return path + ": the token must have at least 16 characters (e.g. `openssl rand -hex 32`)";
  token = std::move(t);
  return std::nullopt;
}

} // namespace http

// ------------------------------------------------------------ the server

namespace {

/// How long /healthz tolerates a poll loop that does not come back.
constexpr int64_t stall_limit_ms = 30000;

int64_t steady_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

void reply(mg_connection* conn, int status, const char* type, const std::string& body,
           const std::string& extra_headers = "") {
  mg_printf(conn,
            "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
            "Cache-Control: no-store\r\n%sConnection: close\r\n\r\n",
            status, mg_get_response_code_text(conn, status), type, body.size(),
            extra_headers.c_str());
  mg_write(conn, body.data(), body.size());
}

void reply_json(mg_connection* conn, int status, const std::string& body,
                const std::string& extra_headers = "") {
  reply(conn, status, "application/json", body, extra_headers);
}

std::string error_body(int status, const std::string& type, const std::string& reason) {
  std::string out = "{\"error\":{\"type\":";
  json::append_string(out, type);
  out += ",\"reason\":";
  json::append_string(out, reason);
  out += "},\"status\":" + std::to_string(status) + "}";
  return out;
}

std::string_view raw_path(mg_connection* conn) {
  const auto* info = mg_get_request_info(conn);
  // decode_url=no: local_uri is the path as sent, without the query string.
  const char* p = info->local_uri_raw ? info->local_uri_raw : info->local_uri;
  return p ? std::string_view(p) : std::string_view();
}

/// Runs before any handler, on every listener: an encoded NUL is refused
/// whatever the path, so no decoding anywhere can cut an id short.
int refuse_encoded_nul(mg_connection* conn) {
  if (!http::has_encoded_nul(raw_path(conn)))
    return 0;
  reply_json(conn, 400, error_body(400, "illegal_argument_exception",
                                   "%00 (NUL) is not allowed in a path"));
  return 400;
}

/// The bearer token document reads must present, read from a file (a
/// mounted Secret). The file is looked at again at most once a second and
/// reloaded when it changed, so a rotated Secret takes effect without a
/// restart; a file that became unusable fails closed (503).
class bearer_token {
public:
  enum class verdict { ok, missing, wrong, unavailable };

  explicit bearer_token(std::string path) : path_(std::move(path)) {
    signature_ = stat_signature();
    if (auto err = http::read_token_file(path_, token_))
      throw std::runtime_error("http.docs.token.file " + *err);
    valid_ = true;
    checked_ms_ = steady_ms();
  }

  const std::string& path() const { return path_; }

  verdict check(std::string_view authorization) {
    std::lock_guard<std::mutex> lock(mu_);
    refresh();
    if (!valid_)
      return verdict::unavailable;
    auto credentials = http::bearer_credentials(authorization);
    if (credentials.empty())
      return verdict::missing;
    return http::constant_time_equal(credentials, token_) ? verdict::ok : verdict::wrong;
  }

  /// Logs refused requests at most once a minute (never their credentials).
  void note_refusal(const char* remote) {
    std::lock_guard<std::mutex> lock(mu_);
    ++refused_;
    auto now = steady_ms();
    if (now - warned_ms_ < 60000)
      return;
    module_logger("http")->warn(
      "document reads: {} request(s) without a valid bearer token since the last report "
      "(latest from {})", refused_, remote);
    refused_ = 0;
    warned_ms_ = now;
  }

private:
  std::string stat_signature() const {
    struct stat st {};
    if (::stat(path_.c_str(), &st) != 0)
      return "";
    return std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino) + ":"
           + std::to_string(st.st_size) + ":" + std::to_string(st.st_mtim.tv_sec) + "."
           + std::to_string(st.st_mtim.tv_nsec);
  }

  void refresh() {
    auto now = steady_ms();
    if (now - checked_ms_ < 1000)
      return;
    checked_ms_ = now;
    auto sig = stat_signature();
    if (sig == signature_)
      return;
    signature_ = sig;
    std::string fresh;
    auto log = module_logger("http");
    if (auto err = http::read_token_file(path_, fresh)) {
      token_.clear();
      valid_ = false;
      log->error("http.docs.token.file {}; document reads answer 503 until it is fixed", *err);
      return;
    }
    token_ = std::move(fresh);
    valid_ = true;
    log->info("document reads: bearer token reloaded from {}", path_);
  }

  std::string path_;
  std::mutex mu_;
  std::string token_;
  std::string signature_;
  bool valid_ = false;
  int64_t checked_ms_ = 0;
  uint64_t refused_ = 0;
  int64_t warned_ms_ = -60000;
};

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
  docs_handler(coordinator& c, bearer_token* token) : c_(c), token_(token) {}

  bool handleGet(CivetServer*, mg_connection* conn) override {
    // Credentials first: without them a client learns nothing, not even
    // whether its path is well-formed.
    if (token_ && !authorized(conn))
      return true;
    auto path = http::parse_doc_path(raw_path(conn));
    if (!path.error.empty()) {
      reply_json(conn, 400, error_body(400, "illegal_argument_exception", path.error));
      return true;
    }
    auto doc = c_.read_document({path.index, path.id}, std::chrono::seconds(2));
    if (!doc) {
      reply_json(conn, 503, error_body(503, "unavailable", "the store did not answer in time"));
      return true;
    }
    std::string out = "{\"_index\":";
    json::append_string(out, path.index);
    out += ",\"_id\":";
    json::append_string(out, path.id);
    if (*doc && (*doc)->doc.state == document_state::kind::live) {
      // As Elasticsearch's GET: the pair a compare-and-set write sends back.
      out += ",\"_version\":" + std::to_string((*doc)->doc.version)
             + ",\"_seq_no\":" + std::to_string((*doc)->doc.seq_no)
             + ",\"_primary_term\":" + std::to_string((*doc)->doc.primary_term)
             + ",\"found\":true,\"_source\":" + (*doc)->doc.source + "}";
      reply_json(conn, 200, out);
    } else {
      out += ",\"found\":false}";
      reply_json(conn, 404, out);
    }
    return true;
  }

private:
  bool authorized(mg_connection* conn) {
    const char* header = mg_get_header(conn, "Authorization");
    auto v = token_->check(header ? header : "");
    if (v == bearer_token::verdict::ok)
      return true;
    if (v == bearer_token::verdict::unavailable) {
      reply_json(conn, 503, error_body(503, "unavailable",
                                       "the bearer token file is unusable (see the logs)"));
      return false;
    }
    token_->note_refusal(mg_get_request_info(conn)->remote_addr);
    if (v == bearer_token::verdict::missing)
      reply_json(conn, 401,
                 error_body(401, "security_exception",
                            "missing authentication credentials for REST request"),
                 "WWW-Authenticate: Bearer realm=\"wcoord\"\r\n");
    else
      reply_json(conn, 401,
                 error_body(401, "security_exception", "unable to authenticate with the "
                                                       "provided credentials"),
                 "WWW-Authenticate: Bearer realm=\"wcoord\", error=\"invalid_token\"\r\n");
    return false;
  }

  coordinator& c_;
  bearer_token* token_;
};

/// /v1/docs/ where document reads are not served.
class docs_elsewhere_handler final : public CivetHandler {
public:
  explicit docs_elsewhere_handler(std::string reason) : reason_(std::move(reason)) {}
  bool handleGet(CivetServer*, mg_connection* conn) override {
    reply_json(conn, 404, error_body(404, "not_found", reason_));
    return true;
  }

private:
  std::string reason_;
};

class not_found_handler final : public CivetHandler {
public:
  explicit not_found_handler(std::string hint) : hint_(std::move(hint)) {}
  bool handleGet(CivetServer*, mg_connection* conn) override {
    reply_json(conn, 404, error_body(404, "not_found", hint_));
    return true;
  }

private:
  std::string hint_;
};

std::unique_ptr<CivetServer> start_listener(const std::string& key, const std::string& listen,
                                            const service_config& cfg) {
  CivetCallbacks callbacks;
  callbacks.begin_request = refuse_encoded_nul;
  std::vector<std::string> options{
    "listening_ports", listen,
    // Every connection holds a worker thread until its request is read and
    // answered: enough threads that a few dozen slow clients leave some
    // free, and a deadline so none holds one for long.
    "num_threads", std::to_string(cfg.http_threads),
    "request_timeout_ms", std::to_string(cfg.http_request_timeout.count()),
    // One request per connection: an idle keep-alive connection would hold
    // a thread too.
    "enable_keep_alive", "no",
    // Paths reach the handlers as sent; document paths are decoded there.
    "decode_url", "no"};
  try {
    return std::make_unique<CivetServer>(options, &callbacks);
  } catch (const CivetException& e) {
    throw std::runtime_error(key + " " + listen + ": " + e.what());
  }
}

std::string bound_address(const CivetServer& server, const std::string& listen) {
  auto colon = listen.rfind(':');
  std::string host = colon == std::string::npos ? "0.0.0.0" : listen.substr(0, colon);
  auto ports = const_cast<CivetServer&>(server).getListeningPortsFull();
  if (ports.empty())
    return "";
  return host + ":" + std::to_string(ports[0].port);
}

bool loopback(const std::string& address) {
  return address.rfind("127.", 0) == 0 || address.rfind("[::1]", 0) == 0
         || address.rfind("localhost:", 0) == 0;
}

} // namespace

struct http_server::impl {
  const service_config& cfg;
  std::unique_ptr<bearer_token> token;
  metrics_handler metrics;
  health_handler health;
  ready_handler ready;
  docs_handler docs;
  docs_elsewhere_handler docs_elsewhere;
  not_found_handler other;
  not_found_handler docs_other;
  // Last: the listeners stop before the handlers and the token go.
  std::unique_ptr<CivetServer> server;
  std::unique_ptr<CivetServer> docs_server;
  std::string listen;

  impl(coordinator& c, const std::string& listen_)
    : cfg(c.config()),
      token(c.config().http_docs_enabled && !c.config().http_docs_token_file.empty()
              ? std::make_unique<bearer_token>(c.config().http_docs_token_file)
              : nullptr),
      metrics(c), health(c), ready(c), docs(c, token.get()),
      docs_elsewhere(!c.config().http_docs_enabled
                       ? "document reads are off (http.docs.enabled=false)"
                       : "document reads are served on their own listener (http.docs.listen)"),
      other(c.config().http_docs_enabled && c.config().http_docs_listen.empty()
              ? "try /metrics, /healthz, /readyz or /v1/docs/{index}/{id}"
              : "try /metrics, /healthz or /readyz"),
      docs_other("this listener serves /v1/docs/{index}/{id} only"), listen(listen_) {}
};

http_server::http_server(const std::string& listen, coordinator& c)
  : impl_(std::make_unique<impl>(c, listen)) {
  const auto& cfg = c.config();
  auto& m = *impl_;
  m.server = start_listener("http.listen", listen, cfg);
  m.server->addHandler("/metrics", m.metrics);
  m.server->addHandler("/healthz", m.health);
  m.server->addHandler("/readyz", m.ready);
  bool shared = cfg.http_docs_enabled && cfg.http_docs_listen.empty();
  if (shared)
    m.server->addHandler("/v1/docs/", m.docs);
  else
    m.server->addHandler("/v1/docs/", m.docs_elsewhere);
  m.server->addHandler("**", m.other);
  if (cfg.http_docs_enabled && !shared) {
    m.docs_server = start_listener("http.docs.listen", cfg.http_docs_listen, cfg);
    m.docs_server->addHandler("/v1/docs/", m.docs);
    m.docs_server->addHandler("**", m.docs_other);
  }

  auto log = module_logger("http");
  if (!cfg.http_docs_enabled) {
    log->info("document reads are off (http.docs.enabled=false)");
    return;
  }
  auto where = docs_address();
  log->info("document reads listening on {} ({}){}", where,
            shared ? "shared with metrics and probes" : "own listener",
            m.token ? ", bearer token from " + m.token->path() : ", no token");
  if (!m.token && !loopback(where))
    log->warn("document reads on {} need no token: whoever reaches the port reads every "
              "document; set http.docs.token.file, or restrict the port (NetworkPolicy, "
              "a loopback address)", where);
}

http_server::~http_server() = default;

std::string http_server::address() const {
  return bound_address(*impl_->server, impl_->listen);
}

std::string http_server::docs_address() const {
  if (impl_->docs_server)
    return bound_address(*impl_->docs_server, impl_->cfg.http_docs_listen);
  return impl_->cfg.http_docs_enabled ? address() : "";
}

} // namespace wcoord
