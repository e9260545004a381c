// `aquawatch evaluate`: the detection engine against the simulator's ground truth (see
// sim/evaluate.h). Registers the subcommand; its callback stores the exit code.
#pragma once

#include <CLI/CLI.hpp>

namespace aquawatch::sim {

CLI::App* AddEvaluateCommand(CLI::App& parent, int* exit_code);

}  // namespace aquawatch::sim
