// mm-ceiling: the plain-gRPC ceiling of the benchmark suite. It serves
// `Subscribe` of the MarketMonitor API with no actors and no Redis: one
// thread generates ticks at --rate over --tickers (`ts` = generation time)
// and hands each to the streams of its ticker; a stream writes with one
// write in flight and batches what arrives meanwhile, like ours in adaptive
// mode. Whatever mm-server costs above this is the price of its design.
// For the churn scenario it also serves the session calls
// (StartPriceMonitoring, StreamPriceUpdates, StopPriceMonitoring) with a
// plain map of sessions under one mutex.
//
// The two streaming calls are served on gRPC's completion-queue (async) API
// with --grpc-queues queues, each polled by its own thread, so that no
// completion searches the tags of every open stream (see docs/benchmarks.md
// on `cq_check_tag`); the unary calls stay on the callback API.

#include "bench/ceiling.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <iostream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include <pthread.h>

#include <grpcpp/grpcpp.h>

#include "app/options/bench_flags.hpp"
#include "bench/completion_queues.hpp"
#include "bench/ticker_names.hpp"
#include "logging/log.hpp"
#include "marketmonitor/v1/market_monitor.grpc.pb.h"

namespace {

namespace pb = marketmonitor::v1;

using options = mm::ceiling_options;

int64_t clock_ns(clockid_t id) {
  timespec ts{};
  clock_gettime(id, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

/// One generated tick; the ticker is an index into the market's names.
struct tick {
  uint32_t ticker;
  double price;
  int64_t volume;
  int64_t ts;
  uint64_t seq;
  uint32_t conflated;
};

class ceiling_stream;

/// The sessions of StartPriceMonitoring: a map under one mutex. A session
/// holds its tickers until its one stream attaches; it ends with that
/// stream, on StopPriceMonitoring, or unattached after the attach timeout.
class sessions {
public:
  explicit sessions(int64_t attach_timeout_ns)
    : attach_timeout_ns_(attach_timeout_ns) {
    // nop
  }

  /// A new session; returns its id.
  std::string add(std::vector<uint32_t> tickers, bool all);

  /// Makes `s` the stream of session `id` and subscribes it, or returns
  /// a status why it cannot be.
  grpc::Status attach(const std::string& id, ceiling_stream* s);

  /// Ends session `id` and its stream (with OK).
  grpc::Status stop(const std::string& id);

  /// The stream of `id` ended.
  void detached(const std::string& id, const ceiling_stream* s);

  /// Drops sessions that waited longer than the attach timeout.
  void expire(int64_t now_ns);

  size_t size() {
    std::lock_guard<std::mutex> guard{mtx_};
    return map_.size();
  }

private:
  struct entry {
    std::vector<uint32_t> tickers;
    bool all = false;
    int64_t created_ns = 0;
    ceiling_stream* stream = nullptr;
  };

  const int64_t attach_timeout_ns_;
  std::mutex mtx_;
  uint64_t next_id_ = 0;
  std::unordered_map<std::string, entry> map_;
};

/// The tickers and who subscribes to each.
class market {
public:
  explicit market(const options& opts)
    : names_(mm::bench::ticker_names(opts.tickers)), slots_(opts.tickers) {
    for (size_t i = 0; i < names_.size(); ++i)
      index_.emplace(names_[i], static_cast<uint32_t>(i));
  }

  const std::string& name(uint32_t i) const {
    return names_[i];
  }

  /// The index of `name`, or -1 when it is not one of ours.
  int64_t find(const std::string& name) const {
    auto it = index_.find(name);
    return it == index_.end() ? -1 : it->second;
  }

  void subscribe(uint32_t i, ceiling_stream* s) {
    std::lock_guard<std::mutex> guard{slots_[i].mtx};
    slots_[i].streams.push_back(s);
  }

  void unsubscribe(uint32_t i, ceiling_stream* s) {
    std::lock_guard<std::mutex> guard{slots_[i].mtx};
    auto& xs = slots_[i].streams;
    for (size_t j = 0; j < xs.size(); ++j) {
      if (xs[j] == s) {
        xs[j] = xs.back();
        xs.pop_back();
        return;
      }
    }
  }

  /// Generates ticks until `stop` is set.
  void run(const options& opts, const bool& stop);

private:
  struct slot {
    std::mutex mtx;
    std::vector<ceiling_stream*> streams;
    uint64_t seq = 0;
    double price = 100;
  };

  std::vector<std::string> names_;
  std::unordered_map<std::string, uint32_t> index_;
  std::vector<slot> slots_;
};

/// The service: the streaming calls on completion queues, the unary calls
/// on the callback API (gRPC serves both from one service).
using mixed_service = pb::MarketMonitor::WithAsyncMethod_Subscribe<
  pb::MarketMonitor::WithAsyncMethod_StreamPriceUpdates<
    pb::MarketMonitor::WithCallbackMethod_StartPriceMonitoring<
      pb::MarketMonitor::WithCallbackMethod_StopPriceMonitoring<
        pb::MarketMonitor::WithCallbackMethod_UpdateSubscription<
          pb::MarketMonitor::WithCallbackMethod_GetLastPrices<
            pb::MarketMonitor::Service>>>>>>;

/// What a stream needs besides its call.
struct stream_env {
  mixed_service& service;
  market& m;
  sessions& ss;
  const options& opts;
  /// Calls that arrived and are not done: the queues must outlive them.
  std::atomic<int64_t> open{0};
};

/// One Subscribe or StreamPriceUpdates call on a completion queue: it waits
/// for a call of its method, then writes with one write in flight while the
/// rest waits in `pending_`. Its completions arrive on its queue's thread,
/// ticks from the generator's. gRPC holds one reference until the call is
/// done and its Finish is back; `sessions` takes another while it stops the
/// stream.
class ceiling_stream final : public mm::bench::cq_handler {
public:
  enum class method { subscribe, attach };

  /// Waits for the next call of `m` on `cq`.
  static void await(stream_env& env, grpc::ServerCompletionQueue* cq,
                    method m) {
    auto* s = new ceiling_stream(env, cq, m);
    s->ctx_.AsyncNotifyWhenDone(&s->tags_[op_done]);
    if (m == method::subscribe)
      env.service.RequestSubscribe(&s->ctx_, &s->sub_req_, &s->writer_, cq, cq,
                                   &s->tags_[op_request]);
    else
      env.service.RequestStreamPriceUpdates(&s->ctx_, &s->attach_req_,
                                            &s->writer_, cq, cq,
                                            &s->tags_[op_request]);
  }

  void ref() {
    refs_.fetch_add(1, std::memory_order_relaxed);
  }

  void unref() {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1)
      delete this;
  }

  /// The tickers of the call; subscribes. Runs once, before any tick.
  void bind(std::vector<uint32_t> tickers, bool all) {
    tickers_ = std::move(tickers);
    all_ = all;
    for (auto t : tickers_)
      env_.m.subscribe(t, this);
  }

  /// Ends the stream with OK once the write in flight is done (the session
  /// was stopped).
  void stop() {
    bool finish = false;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      if (finishing_)
        return;
      finishing_ = true;
      status_ = grpc::Status::OK;
      pending_.clear();
      finish = !writing_ && !finish_called_;
      finish_called_ = finish_called_ || finish;
    }
    if (finish)
      writer_.Finish(status_, &tags_[op_finish]);
  }

  /// Queues `x`; returns true when the caller must `flush` (no write was in
  /// flight).
  bool push(const tick& x) {
    std::lock_guard<std::mutex> guard{mtx_};
    if (finishing_)
      return false;
    if (!all_) {
      for (auto& y : pending_) {
        if (y.ticker == x.ticker) {
          auto conflated = y.conflated + 1;
          y = x;
          y.conflated = conflated;
          return false;
        }
      }
    } else if (pending_.size() >= max_pending_) {
      // Too slow a consumer for ALL: end it, as the node does.
      finishing_ = true;
      status_ = grpc::Status{grpc::StatusCode::RESOURCE_EXHAUSTED,
                             "consumer too slow"};
      pending_.clear();
      return false;
    }
    pending_.push_back(x);
    if (writing_)
      return false;
    writing_ = true;
    return true;
  }

  /// Starts the write of what is pending; the caller won `push`.
  void flush() {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      fill();
    }
    writer_.Write(out_, &tags_[op_write]);
  }

  void on_event(int op, bool ok) override {
    switch (op) {
      case op_request:
        // Not ok: the server is shutting down. Whether gRPC still delivers
        // the done tag of a call that never started is not ours to know,
        // so the object stays (the process is ending).
        if (ok)
          on_call();
        break;
      case op_write: on_write_done(ok); break;
      case op_finish:
        finish_back_ = true;
        if (done_)
          on_done();
        break;
      case op_done:
        done_ = true;
        if (ctx_.IsCancelled())
          on_cancel();
        if (finish_back_)
          on_done();
        break;
      default: break;
    }
  }

private:
  enum op : int { op_request, op_write, op_finish, op_done, n_ops };

  ceiling_stream(stream_env& env, grpc::ServerCompletionQueue* cq, method m)
    : env_(env),
      cq_(cq),
      method_(m),
      max_batch_(env.opts.max_batch),
      max_pending_(env.opts.max_pending),
      writer_(&ctx_) {
    for (int i = 0; i < n_ops; ++i)
      tags_[i] = mm::bench::cq_tag{this, i};
  }

  /// A call arrived: wait for the next one, then serve this one.
  void on_call();

  void on_write_done(bool ok) {
    bool finish = false;
    bool more = false;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      if (!ok)
        finishing_ = true;
      if (finishing_ || pending_.empty()) {
        writing_ = false;
        finish = finishing_ && !finish_called_;
        finish_called_ = finish_called_ || finish;
      } else {
        fill();
        more = true;
      }
    }
    if (finish)
      writer_.Finish(status_, &tags_[op_finish]);
    else if (more)
      writer_.Write(out_, &tags_[op_write]);
  }

  void on_cancel() {
    bool finish = false;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      finishing_ = true;
      status_ = grpc::Status::CANCELLED;
      finish = !writing_ && !finish_called_;
      finish_called_ = finish_called_ || finish;
    }
    if (finish)
      writer_.Finish(status_, &tags_[op_finish]);
  }

  /// Ends the stream at once with `st` (a call we cannot serve).
  void fail(const grpc::Status& st) {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      finishing_ = true;
      finish_called_ = true;
    }
    writer_.Finish(st, &tags_[op_finish]);
  }

  /// gRPC is done with the call.
  void on_done() {
    for (auto t : tickers_)
      env_.m.unsubscribe(t, this);
    if (method_ == method::attach && bound_)
      env_.ss.detached(attach_req_.session_id(), this);
    auto& env = env_;
    unref();
    env.open.fetch_sub(1, std::memory_order_acq_rel);
  }

  /// Moves up to max_batch pending updates into `out_`.
  void fill() {
    out_.Clear();
    out_.set_batch_seq(++batch_seq_);
    auto n = std::min(pending_.size(), max_batch_);
    auto* updates = out_.mutable_updates();
    updates->Reserve(static_cast<int>(n));
    for (size_t i = 0; i < n; ++i) {
      const auto& x = pending_[i];
      auto* y = updates->Add();
      y->set_ticker(env_.m.name(x.ticker));
      y->set_price(x.price);
      y->set_volume(x.volume);
      y->set_ts_unix_nanos(x.ts);
      y->set_seq(x.seq);
      y->set_conflated(x.conflated);
    }
    pending_.erase(pending_.begin(), pending_.begin() + n);
  }

  stream_env& env_;
  grpc::ServerCompletionQueue* const cq_;
  const method method_;
  std::vector<uint32_t> tickers_;
  bool all_ = false;
  bool bound_ = false;
  const size_t max_batch_;
  const size_t max_pending_;
  mm::bench::cq_tag tags_[n_ops];
  std::atomic<int> refs_{1};
  bool done_ = false;
  bool finish_back_ = false;
  std::mutex mtx_;
  std::vector<tick> pending_;
  bool writing_ = false;
  bool finishing_ = false;
  bool finish_called_ = false;
  grpc::Status status_;
  uint64_t batch_seq_ = 0;
  grpc::ServerContext ctx_;
  pb::SubscribeRequest sub_req_;
  pb::StreamPriceUpdatesRequest attach_req_;
  grpc::ServerAsyncWriter<pb::PriceBatch> writer_;
  /// The batch of the write in flight; gRPC reads it until the write is
  /// back.
  pb::PriceBatch out_;
};

std::string sessions::add(std::vector<uint32_t> tickers, bool all) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto id = "ceiling-" + std::to_string(++next_id_);
  map_.emplace(id, entry{std::move(tickers), all, clock_ns(CLOCK_MONOTONIC),
                         nullptr});
  return id;
}

grpc::Status sessions::attach(const std::string& id, ceiling_stream* s) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto it = map_.find(id);
  if (it == map_.end())
    return {grpc::StatusCode::NOT_FOUND, "unknown session \"" + id + "\""};
  if (it->second.stream != nullptr)
    return {grpc::StatusCode::FAILED_PRECONDITION,
            "session \"" + id + "\" already has a stream"};
  // Subscribing takes the market's locks only: no gRPC call.
  s->bind(it->second.tickers, it->second.all);
  it->second.stream = s;
  return grpc::Status::OK;
}

grpc::Status sessions::stop(const std::string& id) {
  ceiling_stream* s = nullptr;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    auto it = map_.find(id);
    if (it == map_.end())
      return {grpc::StatusCode::NOT_FOUND, "unknown session \"" + id + "\""};
    s = it->second.stream;
    // The stream cannot be deleted while we hold mtx_ (its OnDone calls
    // detached first), so the reference is taken in time.
    if (s != nullptr)
      s->ref();
    map_.erase(it);
  }
  if (s != nullptr) {
    s->stop(); // outside the lock: gRPC may run OnDone inline
    s->unref();
  }
  return grpc::Status::OK;
}

void sessions::detached(const std::string& id, const ceiling_stream* s) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto it = map_.find(id);
  if (it != map_.end() && it->second.stream == s)
    map_.erase(it);
}

void sessions::expire(int64_t now_ns) {
  std::lock_guard<std::mutex> guard{mtx_};
  for (auto it = map_.begin(); it != map_.end();) {
    if (it->second.stream == nullptr
        && now_ns - it->second.created_ns > attach_timeout_ns_)
      it = map_.erase(it);
    else
      ++it;
  }
}

void market::run(const options& opts, const bool& stop) {
  auto t0 = clock_ns(CLOCK_MONOTONIC);
  uint64_t done = 0;
  std::vector<ceiling_stream*> flushes;
  while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
    auto elapsed = static_cast<double>(clock_ns(CLOCK_MONOTONIC) - t0);
    auto due = static_cast<uint64_t>(elapsed * opts.rate / 1e9);
    if (due <= done) {
      auto wake =
        t0
        + static_cast<int64_t>(static_cast<double>(done + 1) * 1e9 / opts.rate);
      timespec ts{static_cast<time_t>(wake / 1'000'000'000),
                  static_cast<long>(wake % 1'000'000'000)};
      clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr);
      continue;
    }
    auto n = std::min<uint64_t>(due - done, 4096);
    flushes.clear();
    for (uint64_t k = 0; k < n; ++k, ++done) {
      auto i = static_cast<uint32_t>(done % slots_.size());
      auto& s = slots_[i];
      std::lock_guard<std::mutex> guard{s.mtx};
      s.price = s.price >= 200 ? 100 : s.price + 0.01;
      tick x{i,
             s.price,
             static_cast<int64_t>(done % 1000),
             clock_ns(CLOCK_REALTIME),
             ++s.seq,
             0};
      for (auto* stream : s.streams)
        if (stream->push(x))
          flushes.push_back(stream);
    }
    // A stream in `flushes` stays alive: it cannot finish while its write
    // is pending, and that write starts here.
    for (auto* stream : flushes)
      stream->flush();
  }
}

/// Our indexes of `names`, without repeats, or INVALID_ARGUMENT.
template <class Names>
grpc::Status resolve(const market& m, const Names& names,
                     std::vector<uint32_t>& out) {
  std::string unknown;
  for (const auto& name : names) {
    auto i = m.find(name);
    if (i < 0)
      unknown = name;
    else if (auto x = static_cast<uint32_t>(i);
             std::find(out.begin(), out.end(), x) == out.end())
      out.push_back(x);
  }
  if (!unknown.empty())
    return {grpc::StatusCode::INVALID_ARGUMENT,
            "unknown ticker \"" + unknown + "\""};
  if (out.empty())
    return {grpc::StatusCode::INVALID_ARGUMENT, "no tickers"};
  return grpc::Status::OK;
}

void ceiling_stream::on_call() {
  env_.open.fetch_add(1, std::memory_order_relaxed);
  await(env_, cq_, method_);
  if (method_ == method::subscribe) {
    std::vector<uint32_t> tickers;
    if (auto st = resolve(env_.m, sub_req_.tickers(), tickers); !st.ok()) {
      fail(st);
      return;
    }
    bind(std::move(tickers),
         sub_req_.options().mode() == pb::DELIVERY_MODE_ALL);
    return;
  }
  if (auto st = env_.ss.attach(attach_req_.session_id(), this); !st.ok()) {
    fail(st);
    return;
  }
  bound_ = true;
}

/// The unary calls: sessions in a map.
class ceiling_service final : public mixed_service {
public:
  ceiling_service(market& m, sessions& ss) : market_(m), sessions_(ss) {
    // nop
  }

  grpc::ServerUnaryReactor*
  StartPriceMonitoring(grpc::CallbackServerContext* ctx,
                       const pb::StartPriceMonitoringRequest* req,
                       pb::StartPriceMonitoringResponse* resp) override {
    std::vector<uint32_t> tickers;
    auto st = resolve(market_, req->tickers(), tickers);
    if (st.ok()) {
      for (auto t : tickers)
        resp->add_tickers(market_.name(t));
      resp->set_session_id(sessions_.add(
        std::move(tickers), req->options().mode() == pb::DELIVERY_MODE_ALL));
    }
    auto* r = ctx->DefaultReactor();
    r->Finish(st);
    return r;
  }

  grpc::ServerUnaryReactor*
  StopPriceMonitoring(grpc::CallbackServerContext* ctx,
                      const pb::StopPriceMonitoringRequest* req,
                      pb::StopPriceMonitoringResponse*) override {
    auto* r = ctx->DefaultReactor();
    r->Finish(sessions_.stop(req->session_id()));
    return r;
  }

private:
  market& market_;
  sessions& sessions_;
};

} // namespace

namespace mm::bench {

int serve_ceiling(const ceiling_options& opts, const sigset_t& signals) {
  market m{opts};
  sessions ss{opts.attach_timeout_ms * 1'000'000};
  ceiling_service service{m, ss};
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(opts.listen.to_string(),
                           grpc::InsecureServerCredentials(), &port);
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.RegisterService(&service);
  std::vector<std::unique_ptr<grpc::ServerCompletionQueue>> server_cqs;
  for (size_t i = 0; i < opts.grpc_queues; ++i)
    server_cqs.push_back(builder.AddCompletionQueue());
  auto server = builder.BuildAndStart();
  if (!server || port == 0) {
    mm::log::error("mm-ceiling", "cannot serve",
                   {{"listen", opts.listen.to_string()}});
    return 1;
  }
  // Calls are matched to a queue with a request waiting, preferably the
  // queue of their connection; several waiting requests per queue and
  // method keep a burst of new calls on their connection's queue.
  stream_env env{service, m, ss, opts, {}};
  std::vector<std::unique_ptr<grpc::CompletionQueue>> cqs;
  for (auto& cq : server_cqs) {
    for (int i = 0; i < 32; ++i) {
      ceiling_stream::await(env, cq.get(), ceiling_stream::method::subscribe);
      ceiling_stream::await(env, cq.get(), ceiling_stream::method::attach);
    }
    cqs.emplace_back(std::move(cq));
  }
  // Set aside: the threads must not outlive the server's shutdown below.
  auto pollers = std::make_unique<mm::bench::completion_queues>(std::move(cqs),
                                                                "ceiling-cq");
  bool stop = false;
  std::thread generator{[&] { m.run(opts, stop); }};
  std::cout
    << "mm-ceiling ready grpc="
    << mm::host_port{opts.listen.host, static_cast<uint16_t>(port)}.to_string()
    << std::endl;
  // Wait for a signal; meanwhile drop sessions that never attached.
  for (;;) {
    timespec tick{0, 100'000'000};
    if (sigtimedwait(&signals, nullptr, &tick) > 0)
      break;
    ss.expire(clock_ns(CLOCK_MONOTONIC));
  }
  // The queues keep running while the server cancels what is open and the
  // streams finish; no operation may start on a queue once it is shut down,
  // so the generator stops first and the queues go last, drained (the
  // waiting requests come back).
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds{2});
  __atomic_store_n(&stop, true, __ATOMIC_RELAXED);
  generator.join();
  auto deadline = clock_ns(CLOCK_MONOTONIC) + 5'000'000'000;
  while (env.open.load() > 0 && clock_ns(CLOCK_MONOTONIC) < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds{1});
  if (env.open.load() > 0) {
    mm::log::error("mm-ceiling", "calls did not end",
                   {{"calls", static_cast<int64_t>(env.open.load())}});
    std::_Exit(1);
  }
  server->Wait();
  pollers->shutdown();
  server.reset(); // before its queues
  pollers.reset();
  return 0;
}

} // namespace mm::bench
