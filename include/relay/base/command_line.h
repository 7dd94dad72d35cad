// command_line.h -- how relay's programs end on a command line they cannot use.
//
// Every program exits 2 on a usage error (after CLI11's one-line explanation) and 0 after
// --help or --version. Header-only: only the programs, which link CLI11, include it.
#pragma once

#include <CLI/CLI.hpp>
#include <optional>

namespace relay {

// Parses the command line; returns the exit status to end with, or nullopt to go on.
inline std::optional<int> parse_command_line(CLI::App& app, int argc, char** argv) {
    try {
        app.parse(argc, argv);
    } catch (const CLI::Success& done) {  // --help or --version: printed, exit 0
        return app.exit(done);
    } catch (const CLI::ParseError& error) {
        app.exit(error);
        return 2;
    }
    return std::nullopt;
}

}  // namespace relay
