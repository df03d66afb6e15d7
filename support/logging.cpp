#include "support/logging.hpp"

#include <mutex>

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>

namespace wcoord {

namespace {

std::mutex mtx;
spdlog::sink_ptr shared_sink;
spdlog::level::level_enum shared_level = spdlog::level::info;

const char* text_pattern = "%Y-%m-%dT%H:%M:%S.%e%z %^%-5l%$ [%n] %v";
// JSON lines for log collectors; %j is the message, JSON-escaped.
const char* json_pattern = R"({"ts":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","logger":"%n","msg":"%j"})";

/// Writes the log message escaped for a JSON string (quotes, backslashes,
/// control characters), so user data in a message cannot break the line.
class json_message_flag final : public spdlog::custom_flag_formatter {
public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    static constexpr char hex[] = "0123456789abcdef";
    for (char c : msg.payload) {
      auto u = static_cast<unsigned char>(c);
      if (c == '"' || c == '\\') {
        dest.push_back('\\');
        dest.push_back(c);
      } else if (u < 0x20) {
        const char esc[] = {'\\', 'u', '0', '0', hex[u >> 4], hex[u & 0xF]};
        dest.append(esc, esc + sizeof(esc));
      } else {
        dest.push_back(c);
      }
    }
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<json_message_flag>();
  }
};

spdlog::sink_ptr sink() {
  if (!shared_sink) {
    shared_sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    shared_sink->set_pattern(text_pattern);
  }
  return shared_sink;
}

} // namespace

void setup_logging(log_format format, spdlog::level::level_enum level) {
  std::lock_guard<std::mutex> guard{mtx};
  auto s = sink();
  auto formatter = std::make_unique<spdlog::pattern_formatter>();
  formatter->add_flag<json_message_flag>('j');
  formatter->set_pattern(format == log_format::json ? json_pattern
                                                     : text_pattern);
  s->set_formatter(std::move(formatter));
  shared_level = level;
  spdlog::apply_all([&](std::shared_ptr<spdlog::logger> l) {
    l->sinks() = {s};
    l->set_level(level);
  });
}

std::shared_ptr<spdlog::logger> module_logger(const std::string& name) {
  if (auto existing = spdlog::get(name))
    return existing;
  std::lock_guard<std::mutex> guard{mtx};
  if (auto existing = spdlog::get(name))
    return existing;
  auto l = std::make_shared<spdlog::logger>(name, sink());
  l->set_level(shared_level);
  spdlog::register_logger(l);
  return l;
}

} // namespace wcoord
