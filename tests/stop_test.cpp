#include "engine/stop.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/error.h"

namespace swiftkv {
namespace {

// Output of one stream: the emitted text, followed by the flushed text when
// no stop string was found, and the stop string found ("" for none).
struct Stream {
  std::string text;
  std::string matched;
};

// Feeds `chunks` to a new StopMatcher in order.
Stream run_stream(const std::vector<std::string>& stops, const std::vector<std::string>& chunks) {
  StopMatcher matcher(stops);
  Stream stream;
  for (const std::string& chunk : chunks) {
    const StopMatcher::Result result = matcher.push(chunk);
    stream.text += result.emit;
    if (result.stopped) {
      stream.matched = result.matched;
      return stream;
    }
  }
  stream.text += matcher.flush();
  return stream;
}

TEST(Stop, EmptyListEmitsEverything) {
  StopMatcher matcher({});
  const StopMatcher::Result result = matcher.push("any text </s>");
  EXPECT_EQ(result.emit, "any text </s>");
  EXPECT_FALSE(result.stopped);
  EXPECT_EQ(matcher.flush(), "");
}

TEST(Stop, StopInOnePush) {
  StopMatcher matcher({"END"});
  const StopMatcher::Result result = matcher.push("Hello END world");
  EXPECT_EQ(result.emit, "Hello ");
  EXPECT_TRUE(result.stopped);
  EXPECT_EQ(result.matched, "END");
  EXPECT_TRUE(matcher.stopped());
}

TEST(Stop, StopSplitAcrossThreePushes) {
  StopMatcher matcher({"<|end|>"});
  StopMatcher::Result result = matcher.push("abc<|");
  EXPECT_EQ(result.emit, "abc");
  EXPECT_FALSE(result.stopped);
  result = matcher.push("en");
  EXPECT_EQ(result.emit, "");
  EXPECT_FALSE(result.stopped);
  result = matcher.push("d|>xyz");
  EXPECT_EQ(result.emit, "");
  EXPECT_TRUE(result.stopped);
  EXPECT_EQ(result.matched, "<|end|>");
}

TEST(Stop, FalseStartIsEmitted) {
  StopMatcher matcher({"</s>"});
  StopMatcher::Result result = matcher.push("a</");
  EXPECT_EQ(result.emit, "a");
  result = matcher.push("b>c");
  EXPECT_EQ(result.emit, "</b>c");
  EXPECT_FALSE(result.stopped);
  EXPECT_EQ(matcher.flush(), "");
}

TEST(Stop, FlushReturnsHeldBackText) {
  StopMatcher matcher({"</s>"});
  EXPECT_EQ(matcher.push("x</").emit, "x");
  EXPECT_EQ(matcher.flush(), "</");
  EXPECT_EQ(matcher.flush(), "");
}

TEST(Stop, SeveralStopStrings) {
  const Stream stream = run_stream({"STOP", "END"}, {"one E", "ND two STOP"});
  EXPECT_EQ(stream.text, "one ");
  EXPECT_EQ(stream.matched, "END");
}

TEST(Stop, SelfOverlappingPrefix) {
  // After "aaa" the held-back "aa" must still allow "aab" to start at the
  // second 'a'.
  StopMatcher matcher({"aab"});
  EXPECT_EQ(matcher.push("a").emit, "");
  EXPECT_EQ(matcher.push("a").emit, "");
  EXPECT_EQ(matcher.push("a").emit, "a");
  const StopMatcher::Result result = matcher.push("b");
  EXPECT_EQ(result.emit, "");
  EXPECT_TRUE(result.stopped);
}

TEST(Stop, EarliestEndingMatchWins) {
  // "lo" completes before "hello world" does.
  const Stream stream = run_stream({"hello world", "lo"}, {"say hello world"});
  EXPECT_EQ(stream.text, "say hel");
  EXPECT_EQ(stream.matched, "lo");
}

TEST(Stop, SameEndPrefersEarlierStart) {
  const Stream stream = run_stream({"bc", "abc"}, {"xabcd"});
  EXPECT_EQ(stream.text, "x");
  EXPECT_EQ(stream.matched, "abc");
}

TEST(Stop, OverlappingPrefixesHeldBack) {
  // "ab" could start "abc" or "abd", so both bytes wait for the next push.
  StopMatcher matcher({"abc", "abd"});
  EXPECT_EQ(matcher.push("xab").emit, "x");
  const StopMatcher::Result result = matcher.push("d");
  EXPECT_TRUE(result.stopped);
  EXPECT_EQ(result.matched, "abd");
}

TEST(Stop, PushAfterStopEmitsNothing) {
  StopMatcher matcher({"#"});
  EXPECT_TRUE(matcher.push("a#b").stopped);
  const StopMatcher::Result result = matcher.push("more");
  EXPECT_EQ(result.emit, "");
  EXPECT_TRUE(result.stopped);
  EXPECT_EQ(result.matched, "#");
  EXPECT_EQ(matcher.flush(), "");
}

TEST(Stop, EmptyStopStringThrows) {
  EXPECT_THROW(StopMatcher({"ok", ""}), Error);
}

TEST(Stop, ResultIndependentOfChunking) {
  const std::vector<std::string> stops = {"\n\nUser:", "User", "<|eot|>", "aab"};
  const std::vector<std::string> texts = {
      "Answer: 42\n\nUser: next", "no stop here <|eo", "aaab tail", "Us Use Userx", "plain"};
  for (const std::string& text : texts) {
    const Stream whole = run_stream(stops, {text});
    // Split into one-byte chunks and at every single position.
    std::vector<std::string> bytes;
    for (const char c : text) bytes.emplace_back(1, c);
    const Stream by_byte = run_stream(stops, bytes);
    EXPECT_EQ(by_byte.text, whole.text) << text;
    EXPECT_EQ(by_byte.matched, whole.matched) << text;
    for (size_t split = 0; split <= text.size(); ++split) {
      const Stream two = run_stream(stops, {text.substr(0, split), text.substr(split)});
      EXPECT_EQ(two.text, whole.text) << text << " split at " << split;
      EXPECT_EQ(two.matched, whole.matched) << text << " split at " << split;
    }
  }
  // "User" ends before "\n\nUser:", so it is the match.
  const Stream answer = run_stream(stops, {"Answer: 42\n\nUser: next"});
  EXPECT_EQ(answer.text, "Answer: 42\n\n");
  EXPECT_EQ(answer.matched, "User");
  EXPECT_EQ(run_stream(stops, {"aaab tail"}).text, "a");
  EXPECT_EQ(run_stream(stops, {"no stop here <|eo"}).text, "no stop here <|eo");
}

}  // namespace
}  // namespace swiftkv
