#include "app/options/options.hpp"

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <string_view>
#include <utility>

#include "actors/host_port.hpp"

namespace mm {

namespace {

std::string trim(const std::string& x) {
  auto first = x.find_first_not_of(" \t\r\n");
  if (first == std::string::npos)
    return {};
  auto last = x.find_last_not_of(" \t\r\n");
  return x.substr(first, last - first + 1);
}

/// The `--config` format of docs/operations.md: `key = value` lines, `#` at
/// the start of a line or after a blank starts a comment, keys are the flag
/// names (a leading `--` is allowed). A key given in the environment is
/// skipped here, so the environment wins over the file (CLI11 would apply
/// the file first). Repeated keys collect: the last one counts for a single
/// value, all of them for a repeatable flag.
class key_value_format : public CLI::Config {
public:
  explicit key_value_format(const CLI::App& app) : app_(app) {
    // nop
  }

  std::string to_config(const CLI::App*, bool, bool,
                        std::string) const override {
    return {};
  }

  std::vector<CLI::ConfigItem> from_config(std::istream& in) const override {
    auto path = app_.get_config_ptr()->as<std::string>();
    std::vector<CLI::ConfigItem> result;
    std::map<std::string, size_t> index;
    std::string line;
    for (int n = 1; std::getline(in, line); ++n) {
      for (size_t i = 0; i < line.size(); ++i) {
        if (line[i] == '#'
            && (i == 0 || line[i - 1] == ' ' || line[i - 1] == '\t')) {
          line.resize(i);
          break;
        }
      }
      line = trim(line);
      if (line.empty())
        continue;
      auto where = "--config " + path + ":" + std::to_string(n) + ": ";
      auto eq = line.find('=');
      if (eq == std::string::npos)
        throw CLI::ConfigError(where + "expected `key = value`, got \"" + line
                               + "\"");
      auto key = trim(line.substr(0, eq));
      if (key.rfind("--", 0) == 0)
        key.erase(0, 2);
      auto opt = key.empty() || key == "config" || key == "help"
                   ? nullptr
                   : app_.get_option_no_throw("--" + key);
      if (opt == nullptr)
        throw CLI::ConfigError(where + "unknown key \"" + key + "\"");
      if (auto env = opt->get_envname(); !env.empty()) {
        auto set = std::getenv(env.c_str());
        if (set != nullptr && *set != '\0')
          continue;
      }
      auto value = trim(line.substr(eq + 1));
      if (auto i = index.find(key); i != index.end()) {
        result[i->second].inputs.push_back(std::move(value));
        continue;
      }
      index.emplace(key, result.size());
      CLI::ConfigItem item;
      item.name = key;
      item.inputs.push_back(std::move(value));
      result.push_back(std::move(item));
    }
    return result;
  }

  std::string to_flag(const CLI::ConfigItem& item) const override {
    // A switch named several times: the last one counts.
    return item.inputs.back();
  }

private:
  const CLI::App& app_;
};

std::string in_quotes(const std::string& x) {
  return "\"" + x + "\"";
}

} // namespace

void bad_flag(std::string what) {
  throw CLI::ValidationError(std::move(what));
}

std::string environment_name(const std::string& flag) {
  std::string result = "MM_";
  for (auto c : flag.substr(flag.find_first_not_of('-')))
    result +=
      c == '-' ? '_'
               : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return result;
}

CLI::Validator whole_number(uint64_t min, uint64_t max) {
  auto what = "expected a whole number from " + std::to_string(min) + " to "
              + std::to_string(max);
  return CLI::Validator{[min, max, what](std::string& val) -> std::string {
                          auto fail = what + ", got " + in_quotes(val);
                          if (val.empty() || val.size() > 20)
                            return fail;
                          uint64_t x = 0;
                          for (auto c : val) {
                            if (c < '0' || c > '9')
                              return fail;
                            auto next = x * 10 + static_cast<uint64_t>(c - '0');
                            if (next / 10 != x)
                              return fail;
                            x = next;
                          }
                          if (x < min || x > max)
                            return fail;
                          return {};
                        },
                        ""};
}

CLI::Validator decimal(double min, double max, bool above_min) {
  auto print = [](double x) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.15g", x);
    return std::string{buf};
  };
  auto what = "expected a number " + std::string{above_min ? "above " : "from "}
              + print(min) + (above_min ? " and at most " : " to ")
              + print(max);
  return CLI::Validator{
    [min, max, above_min, what](std::string& val) -> std::string {
      errno = 0;
      char* end = nullptr;
      auto x = std::strtod(val.c_str(), &end);
      if (val.empty() || errno != 0 || *end != '\0' || !std::isfinite(x)
          || x < min || (above_min && x == min) || x > max)
        return what + ", got " + in_quotes(val);
      return {};
    },
    ""};
}

CLI::Validator host_port_check(unsigned min_port) {
  return CLI::Validator{[min_port](std::string& val) -> std::string {
                          std::string why;
                          if (!host_port::parse(val, min_port, &why))
                            return why;
                          return {};
                        },
                        ""};
}

CLI::Validator one_of(std::vector<std::string> names) {
  std::string what = "expected ";
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0)
      what += i + 1 == names.size() ? " or " : ", ";
    what += names[i];
  }
  return CLI::Validator{[names, what](std::string& val) -> std::string {
                          for (const auto& x : names)
                            if (x == val)
                              return {};
                          return what + ", got " + in_quotes(val);
                        },
                        ""};
}

CLI::Validator readable_file() {
  return CLI::Validator{[](std::string& val) -> std::string {
                          std::ifstream in{val};
                          if (!in)
                            return "cannot read " + in_quotes(val);
                          return {};
                        },
                        ""};
}

command_line::command_line(std::string name, std::string description)
  : name_(std::move(name)), app_(std::move(description), name_) {
  app_.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app_.get_formatter()->column_width(36);
  app_
    .set_config("--config", "",
                "reads the same keys as `key = value` lines (`#` starts\n"
                "a comment; the command line and the environment win)")
    ->type_name("FILE")
    ->check(readable_file());
  app_.config_formatter(std::make_shared<key_value_format>(app_));
  app_.footer("Every flag also reads its environment variable (Env:, e.g.\n"
              "MM_GRPC_LISTEN for --grpc-listen). Precedence: command line,\n"
              "environment, --config file, default. Flags also take the form\n"
              "--flag=value. A bad flag exits with status 2.");
}

CLI::Option* command_line::add_address(const std::string& flag,
                                       host_port& value, unsigned min_port,
                                       std::string help) {
  auto opt = app_.add_option_function<std::string>(
    flag,
    [&value, min_port](const std::string& val) {
      value = *host_port::parse(val, min_port);
    },
    std::move(help));
  opt->check(host_port_check(min_port))
    ->type_name("HOST:PORT")
    ->default_str(value.to_string());
  return bind_environment(opt);
}

CLI::Option* command_line::add_switch(const std::string& flag, bool& value,
                                      std::string help) {
  auto opt = app_.add_flag(flag, value, std::move(help));
  bind_environment(opt);
  return opt;
}

CLI::Option* command_line::bind_environment(CLI::Option* opt) {
  return opt->envname(environment_name(opt->get_name()));
}

CLI::Option* command_line::secret(CLI::Option* opt,
                                  const std::string& instead) {
  auto flag = opt->get_name();
  auto key = flag.substr(flag.find_first_not_of('-'));
  secrets_.emplace_back(flag, flag
                                + ": a secret on the command line is visible "
                                  "in ps; use "
                                + instead + " (or " + opt->get_envname()
                                + ", or " + key + " in --config)");
  return opt;
}

void command_line::check(std::function<void()> fn) {
  checks_.push_back(std::move(fn));
}

std::optional<int> command_line::parse(int argc, const char* const* argv,
                                       std::ostream& out, std::ostream& err) {
  // Before CLI11 parses anything, so that no error message repeats the
  // value.
  for (int i = 1; i < argc; ++i) {
    std::string_view arg{argv[i]};
    for (const auto& [flag, what] : secrets_)
      if (arg == flag || arg.substr(0, flag.size() + 1) == flag + "=") {
        err << name_ << ": " << what << std::endl;
        return bad_flags_status;
      }
  }
  try {
    app_.parse(argc, argv);
    for (auto& fn : checks_)
      fn();
    return std::nullopt;
  } catch (const CLI::CallForHelp&) {
    out << app_.help();
    return 0;
  } catch (const CLI::ExtrasError& e) {
    err << name_ << ": " << e.what() << " (see --help)" << std::endl;
  } catch (const CLI::ParseError& e) {
    err << name_ << ": " << e.what() << std::endl;
  }
  return bad_flags_status;
}

std::optional<int> command_line::parse(int argc, const char* const* argv) {
  return parse(argc, argv, std::cout, std::cerr);
}

} // namespace mm
