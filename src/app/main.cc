// aquawatch: one binary, several commands (serve, simulate, bench, config print, wal dump).
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>

#include "app/config.h"
#include "app/replay_command.h"
#include "app/serve.h"
#include "core/env.h"
#include "pipeline/log_codec.h"
#include "pipeline/shard_log.h"
#include "sim/bench_command.h"
#include "sim/evaluate_command.h"
#include "sim/simulate_command.h"

extern char** environ;

namespace aquawatch {
namespace {

// Registers every config option as a flag of `cmd`; values land in `flags` (key -> text).
void AddConfigFlags(CLI::App* cmd, std::map<std::string, std::string>& flags,
                    std::string& config_file) {
  cmd->add_option("--config", config_file,
                  "YAML config file (env AQUAWATCH_CONFIG); settings are overridden by "
                  "AQUAWATCH_* variables, which flags override in turn");
  const Config defaults;
  for (const ConfigOption& o : ConfigOptions()) {
    std::string help = fmt::format("{} [yaml {}, env {}, default {}]", o.help, o.key, o.EnvName(),
                                   o.get(defaults));
    cmd->add_option(o.FlagName(), flags[o.key], help)->group("Settings");
  }
}

Result<Config> LoadConfig(CLI::App* cmd, const std::map<std::string, std::string>& flags,
                          std::string config_file) {
  Config config;
  if (config_file.empty()) {
    if (const char* env = std::getenv("AQUAWATCH_CONFIG")) config_file = env;
  }
  if (!config_file.empty()) {
    Status s = ApplyYamlFile(config_file, config);
    if (!s.ok()) return s;
  }
  Status s = ApplyEnvironment(environ, config);
  if (!s.ok()) return s;
  std::map<std::string, std::string> given;
  for (const ConfigOption& o : ConfigOptions()) {
    if (cmd->count(o.FlagName()) > 0) given[o.key] = flags.at(o.key);
  }
  s = ApplyFlags(given, config);
  if (s.ok()) s = Validate(config);
  if (!s.ok()) return s;
  return config;
}

int DumpLog(const std::string& data_dir) {
  Env& env = DefaultEnv();
  std::vector<std::string> dirs;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(data_dir + "/wal", ec)) {
    if (entry.is_directory()) dirs.push_back(entry.path().string());
  }
  if (ec) {
    std::fprintf(stderr, "cannot read %s/wal: %s\n", data_dir.c_str(), ec.message().c_str());
    return 1;
  }
  std::sort(dirs.begin(), dirs.end());
  ReadingBatch batch;
  std::string line;
  std::printf("sensor,time_ns,field,value\n");
  for (const std::string& dir : dirs) {
    Status s = ReadShardLog(env, dir, [&](std::string_view payload, LogFormat format) {
      batch.Clear();
      Status d = DecodeBatch(payload, batch, format);
      if (!d.ok()) return d;
      for (std::size_t i = 0; i < batch.size(); ++i) {
        for (std::size_t f = batch.field_begin(i); f < batch.field_end(i); ++f) {
          line = fmt::format("{},{},{},{}\n", batch.sensor(i), batch.time_ns(i),
                             batch.field_name(f), batch.field_value(f));
          std::fputs(line.c_str(), stdout);
        }
      }
      return Status::Ok();
    });
    if (!s.ok()) {
      std::fprintf(stderr, "%s: %s\n", dir.c_str(), s.ToString().c_str());
      return 1;
    }
  }
  return 0;
}

int Main(int argc, char** argv) {
  auto stderr_logger = spdlog::stderr_color_mt("aquawatch");
  spdlog::set_default_logger(stderr_logger);

  CLI::App app{"aquawatch: real-time water-quality monitoring"};
  app.require_subcommand(1);
  int exit_code = 0;

  std::map<std::string, std::string> serve_flags, print_flags;
  std::string serve_config, print_config;
  CLI::App* serve = app.add_subcommand("serve", "Run the server (role all: embedded, no services)");
  AddConfigFlags(serve, serve_flags, serve_config);
  serve->callback([&] {
    auto config = LoadConfig(serve, serve_flags, serve_config);
    if (!config.ok()) {
      spdlog::critical("configuration: {}", config.status().message());
      exit_code = 2;
      return;
    }
    spdlog::set_level(spdlog::level::from_str(config->log_level));
    exit_code = RunServe(*config);
  });

  CLI::App* config_cmd = app.add_subcommand("config", "Configuration tools");
  config_cmd->require_subcommand(1);
  CLI::App* print = config_cmd->add_subcommand("print", "Print the effective configuration");
  AddConfigFlags(print, print_flags, print_config);
  print->callback([&] {
    auto config = LoadConfig(print, print_flags, print_config);
    if (!config.ok()) {
      std::fprintf(stderr, "configuration: %s\n", config.status().message().c_str());
      exit_code = 2;
      return;
    }
    std::fputs(RenderYaml(*config).c_str(), stdout);
  });

  CLI::App* wal = app.add_subcommand("wal", "Shard log tools");
  wal->require_subcommand(1);
  CLI::App* dump = wal->add_subcommand(
      "dump",
      "Print the readings still in the shard logs (those after the last checkpoint) as CSV");
  std::string dump_dir = "data";
  dump->add_option("--data-dir", dump_dir, "Data directory of a stopped server")
      ->capture_default_str();
  dump->callback([&] { exit_code = DumpLog(dump_dir); });

  AddReplayCommand(app, &exit_code);
  sim::AddSimulateCommand(app, &exit_code);
  sim::AddBenchCommand(app, &exit_code);
  sim::AddEvaluateCommand(app, &exit_code);

  CLI11_PARSE(app, argc, argv);
  return exit_code;
}

}  // namespace
}  // namespace aquawatch

int main(int argc, char** argv) { return aquawatch::Main(argc, argv); }
