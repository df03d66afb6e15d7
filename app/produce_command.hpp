#pragma once
// `wcoord produce`: publish mutation JSON lines keyed by their id.

namespace wcoord {

int produce_command(int argc, char** argv);

} // namespace wcoord
