#include "actors/resp_feed.hpp"

#include <new>
#include <string>

#include <hiredis/hiredis.h>

namespace mm {

namespace {

std::string_view text_of(const redisReply& x) {
  return {x.str, x.len};
}

bool is_text(const redisReply* x) {
  return x != nullptr
         && (x->type == REDIS_REPLY_STRING || x->type == REDIS_REPLY_STATUS);
}

/// Set by `create_array` when it refuses an array, so that `fail` can say so
/// instead of hiredis' "Out of memory". The reader runs on our thread only.
thread_local bool array_refused = false;

/// hiredis' own reply builders: static in hiredis, but a plain reader
/// points at them.
const redisReplyObjectFunctions& default_functions() {
  static const redisReplyObjectFunctions result = [] {
    auto reader = redisReaderCreate();
    if (reader == nullptr)
      throw std::bad_alloc{};
    auto fns = *reader->fn;
    redisReaderFree(reader);
    return fns;
  }();
  return result;
}

/// hiredis accepts counts up to INT_MAX and callocs a pointer per announced
/// element before any arrives: `*2147483647` asks for 16 GiB.
void* create_bounded_array(const redisReadTask* task, int elements) {
  if (elements > resp_feed::max_array_elements) {
    array_refused = true;
    return nullptr; // hiredis turns this into a protocol error.
  }
  return default_functions().createArray(task, elements);
}

redisReplyObjectFunctions* bounded_functions() {
  static redisReplyObjectFunctions result = [] {
    auto fns = default_functions();
    fns.createArray = create_bounded_array;
    return fns;
  }();
  return &result;
}

} // namespace

void resp_feed::reader_deleter::operator()(redisReader* ptr) const {
  redisReaderFree(ptr);
}

void resp_feed::reply_deleter::operator()(redisReply* ptr) const {
  freeReplyObject(ptr);
}

resp_feed::resp_feed() {
  reset();
}

resp_feed::~resp_feed() = default;

void resp_feed::reset() {
  reply_.reset();
  reader_.reset(redisReaderCreateWithFunctions(bounded_functions()));
  error_.clear();
}

resp_feed::status resp_feed::fail() {
  // The first error is the cause; hiredis' later ones only repeat it.
  if (error_.empty()) {
    if (!reader_)
      error_ = "out of memory";
    else if (array_refused)
      error_ = "array length out of range (at most "
               + std::to_string(max_array_elements) + " elements)";
    else
      error_ = reader_->errstr;
  }
  array_refused = false;
  return status::protocol_error;
}

bool resp_feed::feed(const char* data, size_t size) {
  reply_.reset();
  if (!reader_ || !error_.empty()
      || redisReaderFeed(reader_.get(), data, size) != REDIS_OK) {
    fail();
    return false;
  }
  return true;
}

resp_feed::status resp_feed::next(pubsub_event& out) {
  reply_.reset();
  if (!reader_ || !error_.empty())
    return fail();
  void* raw = nullptr;
  array_refused = false;
  if (redisReaderGetReply(reader_.get(), &raw) != REDIS_OK)
    return fail();
  if (raw == nullptr)
    return status::need_more; // The rest of the frame comes later.
  reply_.reset(static_cast<redisReply*>(raw));
  decode(*reply_, out);
  return status::event;
}

void resp_feed::decode(const redisReply& x, pubsub_event& out) {
  out = pubsub_event{};
  using kind = pubsub_event::kind;
  if (x.type == REDIS_REPLY_ERROR) {
    out.type = kind::error;
    out.text = text_of(x);
    return;
  }
  if (x.type == REDIS_REPLY_STATUS && text_of(x) == "PONG") {
    out.type = kind::pong;
    return;
  }
  if (x.type == REDIS_REPLY_ARRAY && x.elements == 2 && is_text(x.element[0])
      && text_of(*x.element[0]) == "pong") {
    out.type = kind::pong;
    return;
  }
  if (x.type != REDIS_REPLY_ARRAY || x.elements < 3 || !is_text(x.element[0])) {
    out.type = kind::unexpected;
    text_ = "unexpected reply of type " + std::to_string(x.type);
    out.text = text_;
    return;
  }
  auto verb = text_of(*x.element[0]);
  if (verb == "message") {
    if (is_text(x.element[1]) && is_text(x.element[2])) {
      out.type = kind::message;
      out.channel = text_of(*x.element[1]);
      out.payload = text_of(*x.element[2]);
    } else {
      out.type = kind::unexpected;
      out.text = "message reply without channel or payload";
    }
  } else if (verb == "subscribe" || verb == "unsubscribe") {
    out.type = verb == "subscribe" ? kind::subscribe : kind::unsubscribe;
    if (is_text(x.element[1]))
      out.channel = text_of(*x.element[1]);
    if (x.element[2]->type == REDIS_REPLY_INTEGER && x.element[2]->integer >= 0)
      out.count = x.element[2]->integer;
  }
  // Anything else (pmessage, a 3-element pong) we never asked for: `ignored`.
}

} // namespace mm
