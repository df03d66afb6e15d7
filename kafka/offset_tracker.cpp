#include "kafka/offset_tracker.hpp"

#include <algorithm>

namespace wcoord::kafka {

void offset_tracker::assign(const topic_partition& tp, int64_t next_offset) {
  std::lock_guard<std::mutex> g{mtx_};
  auto& p = partitions_[tp];
  p = partition{};
  p.next = next_offset;
}

void offset_tracker::revoke(const topic_partition& tp) {
  std::lock_guard<std::mutex> g{mtx_};
  partitions_.erase(tp);
  drained_.notify_all();
}

void offset_tracker::dispatched(const topic_partition& tp, int64_t offset,
                                int64_t timestamp) {
  std::lock_guard<std::mutex> g{mtx_};
  auto& p = partitions_[tp];
  p.pending.push_back({offset, timestamp, false});
  p.next = offset + 1;
  ++p.unfinished;
}

void offset_tracker::finished(const topic_partition& tp, int64_t offset) {
  std::lock_guard<std::mutex> g{mtx_};
  auto i = partitions_.find(tp);
  if (i == partitions_.end())
    return; // revoked meanwhile: its new owner replays it
  auto& p = i->second;
  auto r = std::lower_bound(p.pending.begin(), p.pending.end(), offset,
                            [](const record& x, int64_t o) { return x.offset < o; });
  if (r == p.pending.end() || r->offset != offset || r->done)
    return;
  r->done = true;
  --p.unfinished;
  while (!p.pending.empty() && p.pending.front().done)
    p.pending.pop_front();
  if (p.unfinished == 0)
    drained_.notify_all();
}

partition_progress offset_tracker::progress_of(const partition& p) const {
  partition_progress out;
  out.in_flight = p.unfinished;
  if (!p.pending.empty()) {
    out.committable = p.pending.front().offset;
    out.oldest_timestamp = p.pending.front().timestamp;
  } else {
    out.committable = p.next;
  }
  return out;
}

std::optional<partition_progress>
offset_tracker::progress(const topic_partition& tp) const {
  std::lock_guard<std::mutex> g{mtx_};
  auto i = partitions_.find(tp);
  if (i == partitions_.end())
    return std::nullopt;
  return progress_of(i->second);
}

std::map<topic_partition, partition_progress> offset_tracker::all() const {
  std::lock_guard<std::mutex> g{mtx_};
  std::map<topic_partition, partition_progress> out;
  for (auto& [tp, p] : partitions_)
    out.emplace(tp, progress_of(p));
  return out;
}

bool offset_tracker::wait_drained(const std::vector<topic_partition>& tps,
                                  std::chrono::steady_clock::time_point deadline) {
  std::unique_lock<std::mutex> lock{mtx_};
  return drained_.wait_until(lock, deadline, [&] {
    for (auto& tp : tps) {
      auto i = partitions_.find(tp);
      if (i != partitions_.end() && i->second.unfinished > 0)
        return false;
    }
    return true;
  });
}

} // namespace wcoord::kafka
