// `aquawatch replay`: runs the station detector over a labelled CSV file row by row (causal, as
// GECCO 2018 scored entries) and prints precision/recall/F1, event recall, detection delay, false
// alarms per sensor-day and per-fault-type recall; optionally writes per-row verdicts, the
// detected events and a JSON summary. Offline: no server, no network.
//
// Thread-safety: RunReplay runs on the calling thread and shares nothing. AddReplayCommand is
// called once while the CLI is being built.
#pragma once

#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace aquawatch {

struct ReplayCommandOptions {
  std::string input;                // CSV file
  std::vector<std::string> labels;  // label column(s); a row is TRUE when any of them is
  std::string time_column;          // empty: the first column
  std::vector<std::string> params;  // empty: every column but time and labels
  std::string date_order = "auto";  // auto | mdy | dmy, for slash dates
  std::string profile = "treated_drinking_water";  // core/profiles.h
  std::string score_from;                          // RFC 3339; empty: from the first row
  std::string score_to;                            // RFC 3339, exclusive; empty: to the last row
  std::string output;                              // per-row CSV; empty: none
  std::string events;                              // detected events CSV; empty: none
  std::vector<std::string> set;                    // DetectorTuning overrides, key=value
  std::string predict = "events";                  // events | faults | any (what is scored)
  std::string json;                                // summary as JSON; empty: none
};

// The detection profiles `--profile` accepts (recorded in the summary; profiles land later).
const std::vector<std::string>& ReplayProfiles();

// Returns the process exit code: 0 after a replay (bad cells and rows are reported, not fatal),
// 1 when the input cannot be read or parsed or an output cannot be written, 2 for invalid options
// (unknown tuning key, bad value, bad time, unknown profile).
int RunReplay(const ReplayCommandOptions& options);

// Registers subcommand `replay` on `parent`; its callback stores RunReplay's exit code in
// *exit_code.
CLI::App* AddReplayCommand(CLI::App& parent, int* exit_code);

}  // namespace aquawatch
