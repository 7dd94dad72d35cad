// output.h -- how every relayctl command answers: an error on stderr with its exit code, data
// as indented JSON on stdout (--json).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace relay::ctl {

// "relayctl: MESSAGE" on stderr; returns the exit code 1 (the command failed).
int fail(const std::string& message);
// As fail, with the exit code 2 (the command line was wrong).
int usage(const std::string& message);
// The value indented by two spaces, then a newline.
void print_json(const nlohmann::json& value);

}  // namespace relay::ctl
