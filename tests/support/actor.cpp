// The test's side of an Actor (see actor.hpp); the child's side, which runs
// the commands, is actor_commands.cpp.
#include "actor.hpp"

#include <grp.h>
#include <unistd.h>

#include <optional>

#include "actor_commands.hpp"

namespace shmreg::test {

std::vector<std::string> split_fields(const std::string& line) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    const auto tab = line.find('\t', start);
    out.push_back(line.substr(start, tab == std::string::npos ? std::string::npos : tab - start));
    if (tab == std::string::npos) return out;
    start = tab + 1;
  }
}

std::string join_fields(const std::vector<std::string>& fields) {
  std::string out;
  for (std::size_t i = 0; i < fields.size(); ++i) out += (i ? "\t" : "") + fields[i];
  return out;
}

std::string error_line(const shmreg::Error& e) {
  return join_fields({"error", std::string(shmreg::to_string(e.code)), std::to_string(e.pid), e.message});
}

std::string to_hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

::testing::AssertionResult is_ok(const std::vector<std::string>& answer) {
  if (!answer.empty() && answer[0] == "ok") return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "answer: " << join_fields(answer);
}

std::string errc_of(const std::vector<std::string>& answer) {
  return answer.size() >= 2 && answer[0] == "error" ? answer[1] : std::string();
}

std::string message_of(const std::vector<std::string>& answer) {
  return answer.size() >= 4 && answer[0] == "error" ? answer[3] : std::string();
}

Actor Actor::start(const std::string& ns, const std::string& socket) {
  Actor a;
  a.child_ = ForkedChild::start([ns, socket](ChildChannel& ch) { return serve_actor(ch, ns, socket); });
  a.ready_ = a.child_.receive() == std::optional<std::string>("ready");
  return a;
}

std::vector<std::string> Actor::ask(const std::vector<std::string>& command) {
  auto line = child_.request(join_fields(command));
  if (!line) return {"no answer"};
  return split_fields(*line);
}

bool Actor::send(const std::vector<std::string>& command) { return child_.send(join_fields(command)); }

std::vector<std::string> Actor::answer() {
  auto line = child_.receive();
  if (!line) return {"no answer"};
  return split_fields(*line);
}

::testing::AssertionResult Actor::expect_ok(const std::vector<std::string>& command) {
  const auto answer = ask(command);
  if (!answer.empty() && answer[0] == "ok") return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "pid " << pid() << " answered '" << join_fields(answer) << "' to '"
                                       << join_fields(command) << "'";
}

ForkedChild start_bystander() {
  return ForkedChild::start([](ChildChannel& ch) {
    ch.send("ready");
    while (ch.receive()) ch.send("ok");
    return 0;
  });
}

ForkedChild start_bystander_as(uid_t real, uid_t effective, uid_t saved) {
  return ForkedChild::start([=](ChildChannel& ch) {
    if (::setgroups(0, nullptr) != 0 || ::setresgid(65534, 65534, 65534) != 0 ||
        ::setresuid(real, effective, saved) != 0)
      return child_report(ch, "setresuid failed");
    ch.send("ready");
    while (ch.receive()) ch.send("ok");
    return 0;
  });
}

}  // namespace shmreg::test
