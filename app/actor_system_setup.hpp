#pragma once
// The CAF configuration every command uses. CAF 0.17's own config parsing is
// permissive (unknown keys are silently ignored), so nothing user-facing goes
// through it: only the scheduler is set here, explicitly.

#include <caf/actor_system_config.hpp>

#include <algorithm>
#include <thread>

#include "actors/messages.hpp"

namespace wcoord {

inline void configure_actor_system(caf::actor_system_config& cfg,
                                   size_t threads = 0) {
  if (threads == 0)
    threads = std::max(2u, std::thread::hardware_concurrency());
  cfg.set("scheduler.max-threads", threads);
  // Workers share one queue and sleep on it: the default work-stealing
  // policy polls aggressively, which on two cores took about a quarter of
  // the CPU from the actors doing the work (bench/engine_bench).
  cfg.set("scheduler.policy", caf::atom("sharing"));
  cfg.set("logger.verbosity", caf::atom("quiet"));
  cfg.add_message_types<caf::id_block::wcoord>();
}

} // namespace wcoord
