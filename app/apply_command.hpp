#pragma once
// `wcoord apply`: decide JSON-lines mutations from stdin through the same
// actors and store as the service, answers on stdout in input order.

namespace wcoord {

int apply_command(int argc, char** argv);

} // namespace wcoord
