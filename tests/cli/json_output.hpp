// What the CLI tests read from --json output: the JSON value of a command's
// stdout or stderr, with a test failure when it is not JSON.
//
// Thread-safety: for the test's main thread (GoogleTest assertions).
#pragma once

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

namespace shmreg::test {

inline nlohmann::json parse_json(const std::string& text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << "not JSON: '" << text << "'";
  return j;
}

}  // namespace shmreg::test
