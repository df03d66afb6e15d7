#pragma once
// One named spdlog logger per module ("store", "actors", "kafka", "app"),
// all sharing the sinks and format chosen at start (text or JSON lines).

#include <memory>
#include <string>

#include <spdlog/spdlog.h>

namespace wcoord {

enum class log_format { text, json };

/// Installs the sinks (stderr) and format for every module logger. Call once
/// at start, before any module logs.
void setup_logging(log_format format, spdlog::level::level_enum level);

/// The logger of a module; created on first use with the configured sinks.
std::shared_ptr<spdlog::logger> module_logger(const std::string& name);

} // namespace wcoord
