#include "actors/tick_parser.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <new>
#include <utility>

#include <simdjson.h>

#include "actors/errors.hpp"
#include "actors/tickers.hpp"

namespace mm {

namespace {

/// Feed payloads are a few dozen bytes; anything this large is a mistake or
/// an attack, and refusing it keeps the parser's buffers bounded.
constexpr size_t max_payload_size = size_t{64} * 1024;

/// Enough for every sane payload, so the hot path never grows a buffer.
constexpr size_t initial_capacity = 4096;

constexpr const char* price_why = "price must be a finite number > 0";
constexpr const char* volume_why = "volume must be an integer >= 0";
constexpr const char* ts_why = "ts must be an integer >= 0 (unix nanoseconds)";

/// Says why simdjson refused a document, in an operator's words.
const char* json_error_why(simdjson::error_code err) {
  switch (err) {
    case simdjson::EMPTY: return "payload is empty";
    case simdjson::UTF8_ERROR: return "payload is not valid UTF-8";
    case simdjson::DEPTH_ERROR: return "payload is nested too deeply";
    case simdjson::NUMBER_ERROR:
      return "payload has a number that is out of range or malformed";
    default: return "payload is not valid JSON";
  }
}

/// Reads a number as a non-negative int64; fails on fractions, negatives and
/// values beyond INT64_MAX (which the DOM stores as uint64).
bool get_non_negative_int(simdjson::dom::element value, int64_t& out) {
  if (value.type() != simdjson::dom::element_type::INT64)
    return false;
  int64_t x = 0;
  if (value.get_int64().get(x) != simdjson::SUCCESS || x < 0)
    return false;
  out = x;
  return true;
}

} // namespace

struct tick_parser::impl {
  /// Validates the whole document (structure, literals, numbers, trailing
  /// bytes), which on-demand parsing would skip for keys we do not read.
  simdjson::dom::parser dom{max_payload_size};
  /// Only used on the error path, to find which field broke the document.
  simdjson::ondemand::parser on_demand{max_payload_size};
  /// Copy of the payload followed by SIMDJSON_PADDING readable bytes.
  std::unique_ptr<char[]> buf;
  size_t buf_capacity = 0;

  impl() {
    grow(initial_capacity);
    // A failed allocation only means parse() tries again and reports it.
    [[maybe_unused]] auto err = dom.allocate(initial_capacity);
  }

  bool grow(size_t size) {
    if (size <= buf_capacity)
      return true;
    auto capacity = std::max(size, buf_capacity * 2);
    buf.reset(new (std::nothrow) char[capacity + simdjson::SIMDJSON_PADDING]);
    if (!buf) {
      buf_capacity = 0;
      return false;
    }
    // simdjson may read the padding; keep it defined.
    std::memset(buf.get() + capacity, 0, simdjson::SIMDJSON_PADDING);
    buf_capacity = capacity;
    return true;
  }

  /// Names the field whose value made the DOM parser refuse the document
  /// (e.g. `"price": 1e400` or `"price": NaN`), falling back to a generic
  /// reason when no known field is at fault.
  const char* explain(size_t len, simdjson::error_code err) {
    simdjson::ondemand::document doc;
    simdjson::ondemand::object obj;
    if (on_demand
            .iterate(buf.get(), len, buf_capacity + simdjson::SIMDJSON_PADDING)
            .get(doc)
          != simdjson::SUCCESS
        || doc.get_object().get(obj) != simdjson::SUCCESS)
      return json_error_why(err);
    for (auto field : obj) {
      std::string_view key;
      if (field.error() != simdjson::SUCCESS
          || field.unescaped_key().get(key) != simdjson::SUCCESS)
        break;
      auto value = field.value();
      if (key == "price") {
        double x = 0;
        if (value.get_double().get(x) != simdjson::SUCCESS)
          return price_why;
      } else if (key == "volume") {
        int64_t x = 0;
        if (value.get_int64().get(x) != simdjson::SUCCESS)
          return volume_why;
      } else if (key == "ts") {
        int64_t x = 0;
        if (value.get_int64().get(x) != simdjson::SUCCESS)
          return ts_why;
      }
    }
    return json_error_why(err);
  }
};

tick_parser::tick_parser() : impl_(std::make_unique<impl>()) {
  // nop
}

tick_parser::~tick_parser() = default;

caf::expected<tick> tick_parser::parse(std::string_view payload,
                                       std::string_view ticker,
                                       int64_t now_ns) {
  auto fail = [](auto&& reason) -> caf::expected<tick> {
    return caf::make_error(ec::malformed_tick,
                           std::string{std::forward<decltype(reason)>(reason)});
  };
  if (payload.empty())
    return fail("payload is empty");
  if (payload.size() > max_payload_size)
    return fail("payload is larger than 64 KiB");
  auto& self = *impl_;
  if (!self.grow(payload.size()))
    return fail("out of memory while parsing the payload");
  std::memcpy(self.buf.get(), payload.data(), payload.size());
  simdjson::dom::element root;
  // realloc_if_needed = false: our buffer is already padded.
  if (auto err =
        self.dom.parse(self.buf.get(), payload.size(), false).get(root);
      err != simdjson::SUCCESS)
    return fail(self.explain(payload.size(), err));
  simdjson::dom::object obj;
  if (root.get_object().get(obj) != simdjson::SUCCESS)
    return fail("payload is not a JSON object");
  bool has_price = false;
  bool has_volume = false;
  bool has_ts = false;
  bool has_ticker = false;
  tick result;
  result.ts = now_ns;
  auto duplicate = [&](std::string_view key) {
    return fail("duplicate key \"" + std::string{key} + "\"");
  };
  // Unknown keys are ignored on purpose: publishers may add fields (e.g. a
  // bid/ask) before this server knows them, and that must not drop ticks.
  for (auto [key, value] : obj) {
    if (key == "price") {
      if (has_price)
        return duplicate(key);
      has_price = true;
      double x = 0;
      if (!value.is_number() || value.get_double().get(x) != simdjson::SUCCESS
          || !std::isfinite(x) || !(x > 0))
        return fail(price_why);
      result.price = x;
    } else if (key == "volume") {
      if (has_volume)
        return duplicate(key);
      has_volume = true;
      if (!get_non_negative_int(value, result.volume))
        return fail(volume_why);
    } else if (key == "ts") {
      if (has_ts)
        return duplicate(key);
      has_ts = true;
      if (!get_non_negative_int(value, result.ts))
        return fail(ts_why);
    } else if (key == "ticker") {
      if (has_ticker)
        return duplicate(key);
      has_ticker = true;
      std::string_view str;
      if (value.get_string().get(str) != simdjson::SUCCESS)
        return fail("ticker must be a string");
      if (normalize_ticker(str) != ticker) {
        constexpr size_t max_shown = 32;
        std::string shown{str.substr(0, max_shown)};
        if (str.size() > max_shown)
          shown += "...";
        return fail("ticker \"" + shown + "\" does not match the channel's "
                    + std::string{ticker});
      }
    }
  }
  if (!has_price)
    return fail("price is missing");
  return result;
}

} // namespace mm
