#pragma once
// The HTTP surface (contract §6), split by who must reach it:
//
//  * metrics and probes (GET /metrics, /healthz, /readyz) on `http.listen`:
//    Prometheus and the kubelet need them, and they reveal no document;
//  * document reads (GET /v1/docs/{index}/{id}) serve document sources: off
//    unless `http.docs.enabled`, then on `http.listen` or on a listener of
//    their own (`http.docs.listen`), and behind a bearer token when
//    `http.docs.token.file` names one.
//
// civetweb serves each listener on its own threads (`http.threads`), so a
// slow client never touches the pipeline and a flood on the document port
// never starves the probes; `http.request.timeout` bounds how long any one
// client holds a thread; keep-alive is off. civetweb never percent-decodes
// paths (decode_url=no): document paths are decoded here, strictly, and an
// encoded NUL is refused (400) on every path before any handler runs.

#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace wcoord {

class coordinator;

class http_server {
public:
  /// Metrics and probes on `listen` (host:port; port 0 picks a free one);
  /// document reads, threads and timeouts as c.config() says. Throws on bind
  /// errors and on an unusable token file.
  http_server(const std::string& listen, coordinator& c);
  ~http_server();

  /// The address the metrics and probes listener bound, host:port.
  std::string address() const;
  /// Where document reads are served, host:port; "" while they are off.
  std::string docs_address() const;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// The pure parts, exposed for tests.
namespace http {

/// Percent-decodes one path segment: every '%' must start two hex digits,
/// '+' stays '+', and the result must be UTF-8 without NUL. On failure
/// returns nullopt with the reason in `error`.
std::optional<std::string> decode_segment(std::string_view raw, std::string& error);

/// True when a raw (undecoded) request path holds an encoded NUL (%00),
/// which would cut a C string short wherever it is decoded.
bool has_encoded_nul(std::string_view raw_path);

/// index and id of a raw /v1/docs/{index}/{id} path, or `error` when the
/// path is malformed ('/' inside an id must be sent as %2F).
struct doc_path {
  std::string index;
  std::string id;
  std::string error;
};
doc_path parse_doc_path(std::string_view raw_path);

/// Equality in a time that depends on `expected`'s length only (never on
/// where the first difference is).
bool constant_time_equal(std::string_view given, std::string_view expected);

/// The credentials of an `Authorization: Bearer <credentials>` header value
/// (scheme case-insensitive, RFC 6750); "" for anything else.
std::string_view bearer_credentials(std::string_view authorization);

/// Reads a bearer token file: surrounding whitespace is dropped (files made
/// with `echo` or `kubectl create secret --from-file` end in a newline); the
/// rest must be at least 16 visible ASCII characters. Returns an error text,
/// which never contains the token, or nullopt with `token` set.
std::optional<std::string> read_token_file(const std::string& path, std::string& token);

} // namespace http

} // namespace wcoord
