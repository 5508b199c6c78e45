#include "app/shell/commands.hpp"

#include <utility>

#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <caf/make_message.hpp>

#include "actors/errors.hpp"
#include "actors/inspection.hpp"

namespace mm::shell {

caf::error bad_argument(std::string what) {
  return caf::make_error(admin_ec::bad_argument, std::move(what));
}

const command_spec* find_command(const std::string& name) {
  auto& key = name == "exit" ? command_of(command_kind::quit).name : name;
  for (auto& spec : command_table())
    if (key == spec.name)
      return &spec;
  return nullptr;
}

const command_spec& command_of(command_kind kind) {
  for (auto& spec : command_table())
    if (spec.kind == kind)
      return spec;
  // The table has a row for every kind (tests/unit/shell_test.cpp).
  return command_table().front();
}

caf::error split_words(const std::string& line,
                       std::vector<std::string>& words) {
  words.clear();
  std::string word;
  bool in_word = false;
  char quote = 0;
  for (auto c : line) {
    if (quote != 0) {
      if (c == quote)
        quote = 0;
      else
        word += c;
    } else if (c == '"' || c == '\'') {
      quote = c;
      in_word = true;
    } else if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      if (in_word)
        words.push_back(std::move(word));
      word.clear();
      in_word = false;
    } else {
      word += c;
      in_word = true;
    }
  }
  if (quote != 0)
    return bad_argument(std::string{"unterminated "} + quote + " quote");
  if (in_word)
    words.push_back(std::move(word));
  return caf::none;
}

caf::expected<command> parse_command(const std::string& line) {
  std::vector<std::string> words;
  if (auto err = split_words(line, words))
    return err;
  if (words.empty())
    return bad_argument("empty command (try \"help\")");
  auto* spec = find_command(words[0]);
  if (spec == nullptr)
    return bad_argument("unknown command \"" + words[0] + "\" (try \"help\")");
  auto wrong = [&](const std::string& what) {
    return bad_argument(words[0] + ": " + what + "; usage: " + spec->usage);
  };
  std::vector<std::string> args{words.begin() + 1, words.end()};
  if (args.size() < spec->min_args)
    return wrong(spec->missing);
  if (args.size() > spec->max_args)
    return wrong(spec->max_args == 0 ? "takes no arguments"
                                     : "too many arguments");
  command out;
  out.kind = spec->kind;
  if (spec->parse != nullptr)
    if (auto err = spec->parse(args, out))
      return wrong(text_of(err));
  return out;
}

} // namespace mm::shell
