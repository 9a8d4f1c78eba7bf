#include "engine/request.h"

namespace swiftkv {

const char* finish_reason_name(FinishReason reason) {
  switch (reason) {
    case FinishReason::kNone: return "";
    case FinishReason::kStop: return "stop";
    case FinishReason::kLength: return "length";
    case FinishReason::kAbort: return "abort";
    case FinishReason::kError: return "error";
  }
  return "";
}

void OutputQueue::push(RequestOutput output) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    events_.push_back(std::move(output));
  }
  ready_.notify_one();
}

std::optional<RequestOutput> OutputQueue::pop(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (!ready_.wait_for(lock, timeout, [this] { return !events_.empty(); })) return std::nullopt;
  RequestOutput output = std::move(events_.front());
  events_.pop_front();
  return output;
}

OutputCallback OutputQueue::callback() {
  return [this](const RequestOutput& output) { push(output); };
}

}  // namespace swiftkv
