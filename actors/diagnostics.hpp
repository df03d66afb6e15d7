#pragma once
// CAF 0.17 prints unexpected messages to stdout and lets an exception kill
// an actor silently (its log macros are compiled out in Debian's build).
// Every wcoord actor routes both through the "actors" spdlog logger instead.

#include <caf/scheduled_actor.hpp>

namespace wcoord {

/// Installs logging default and exception handlers on `self`; `name`
/// identifies the actor in the log.
void install_diagnostics(caf::scheduled_actor* self, const char* name);

} // namespace wcoord
