#pragma once
// `wcoord run`: the coordinator service.

namespace wcoord {

int run_command(int argc, char** argv);

} // namespace wcoord
