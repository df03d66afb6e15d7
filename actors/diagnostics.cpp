#include "actors/diagnostics.hpp"

#include <caf/actor_system.hpp>
#include <caf/message_view.hpp>
#include <caf/sec.hpp>

#include "support/logging.hpp"

namespace wcoord {

void install_diagnostics(caf::scheduled_actor* self, const char* name) {
  self->set_default_handler(
    [name](caf::scheduled_actor* ptr, caf::message_view& x) -> caf::result<caf::message> {
      module_logger("actors")->error("{} dropped an unexpected message: {}", name,
                                     caf::to_string(x.content()));
      (void) ptr;
      return caf::sec::unexpected_message;
    });
  self->set_exception_handler(
    [name](caf::scheduled_actor*, std::exception_ptr& ep) -> caf::error {
      try {
        std::rethrow_exception(ep);
      } catch (const std::exception& e) {
        module_logger("actors")->critical("{} failed: {}", name, e.what());
      } catch (...) {
        module_logger("actors")->critical("{} failed with an unknown exception", name);
      }
      return caf::sec::runtime_error;
    });
}

} // namespace wcoord
