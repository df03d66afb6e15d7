#pragma once
// `wcoord demo`: the main job on embedded defaults, watched live.

namespace wcoord {

int demo_command(int argc, char** argv);

} // namespace wcoord
