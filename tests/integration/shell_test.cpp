// End-to-end: mm-shell against a real mm-server with a real feed. Every
// command in -c mode, with and without --json (parsed by python3's json
// module), numbers checked against what the test did; kill ends the stream
// with ABORTED; watch tails ticks and a SIGKILLed shell leaves nothing
// behind at the broadcaster; an interactive run through a pty; clear errors.

#include "tests/integration/harness.hpp"

#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>

namespace mm::test {
namespace {

/// What a finished process printed and how it ended.
struct run_result {
  int status = -1;
  std::string out;
  std::string err;

  bool ok() const {
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
  }
};

std::vector<char*> c_strings(std::vector<std::string>& xs) {
  std::vector<char*> result;
  for (auto& x : xs)
    result.push_back(x.data());
  result.push_back(nullptr);
  return result;
}

/// The environment of this process plus `extra` ("KEY=VALUE"), without any
/// MM_ADMIN_SECRET unless `extra` sets it.
std::vector<std::string> environment(const std::vector<std::string>& extra) {
  std::vector<std::string> result;
  for (auto** e = environ; *e != nullptr; ++e)
    if (std::string{*e}.rfind("MM_ADMIN_SECRET=", 0) != 0)
      result.emplace_back(*e);
  result.insert(result.end(), extra.begin(), extra.end());
  return result;
}

/// A child process with its stdout and stderr on pipes.
class child {
public:
  child(std::vector<std::string> args, std::vector<std::string> env = {}) {
    auto envs = environment(env);
    auto argv = c_strings(args);
    auto envp = c_strings(envs);
    int out[2];
    int err[2];
    if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0)
      throw std::runtime_error("pipe failed");
    auto parent = ::getpid();
    pid_ = ::fork();
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent)
        ::_exit(127);
      ::dup2(out[1], STDOUT_FILENO);
      ::dup2(err[1], STDERR_FILENO);
      int devnull = ::open("/dev/null", O_RDONLY);
      ::dup2(devnull, STDIN_FILENO);
      ::execve(argv[0], argv.data(), envp.data());
      ::_exit(127);
    }
    ::close(out[1]);
    ::close(err[1]);
    out_ = out[0];
    err_ = err[0];
  }

  ~child() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    ::close(out_);
    ::close(err_);
  }

  /// Reads what is available (waiting up to `timeout` for the first bytes).
  void pump(milliseconds timeout) {
    pollfd fds[2] = {{out_, POLLIN, 0}, {err_, POLLIN, 0}};
    if (::poll(fds, 2, static_cast<int>(timeout.count())) <= 0)
      return;
    char buf[4096];
    if (fds[0].revents != 0) {
      auto n = ::read(out_, buf, sizeof(buf));
      if (n > 0)
        out.append(buf, static_cast<size_t>(n));
      else
        out_eof = true;
    }
    if (fds[1].revents != 0) {
      auto n = ::read(err_, buf, sizeof(buf));
      if (n > 0)
        err.append(buf, static_cast<size_t>(n));
      else
        err_eof = true;
    }
  }

  /// Reads until stdout holds `needle` or `timeout` passes.
  bool wait_output(const std::string& needle, milliseconds timeout) {
    auto deadline = clock_type::now() + timeout;
    while (out.find(needle) == std::string::npos) {
      if (clock_type::now() >= deadline || (out_eof && err_eof))
        return false;
      pump(milliseconds{20});
    }
    return true;
  }

  /// Reads everything until both pipes close, then reaps the child.
  run_result finish(milliseconds timeout) {
    auto deadline = clock_type::now() + timeout;
    while (!(out_eof && err_eof) && clock_type::now() < deadline)
      pump(milliseconds{20});
    run_result result;
    if (!(out_eof && err_eof))
      ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &result.status, 0);
    pid_ = -1;
    result.out = out;
    result.err = err;
    return result;
  }

  void signal(int sig) {
    ::kill(pid_, sig);
  }

  std::string out;
  std::string err;
  bool out_eof = false;
  bool err_eof = false;

private:
  pid_t pid_ = -1;
  int out_ = -1;
  int err_ = -1;
};

run_result run(std::vector<std::string> args,
               std::vector<std::string> env = {}) {
  child c{std::move(args), std::move(env)};
  return c.finish(milliseconds{30000});
}

/// Evaluates the Python expression `expr` over the JSON document `doc`
/// (bound to `d`) and returns what print() shows. Python's json module is an
/// independent parser, so the shell's JSON is checked for real.
std::string py(const std::string& doc, const std::string& expr) {
  char path[] = "/tmp/mm_shell_test_XXXXXX";
  int fd = ::mkstemp(path);
  if (fd < 0)
    throw std::runtime_error("mkstemp failed");
  ::close(fd);
  {
    std::ofstream f{path};
    f << doc;
  }
  auto res = run({"/usr/bin/python3", "-c",
                  "import json,sys\nd=json.load(open(sys.argv[1]))\n"
                  "print(eval(sys.argv[2]))",
                  path, expr});
  ::unlink(path);
  if (!res.ok())
    return "<python failed: " + res.err + ">";
  auto out = res.out;
  while (!out.empty() && out.back() == '\n')
    out.pop_back();
  return out;
}

long long py_int(const std::string& doc, const std::string& expr) {
  auto x = py(doc, expr);
  try {
    return std::stoll(x);
  } catch (...) {
    ADD_FAILURE() << "not a number: " << x << " (" << expr << " over " << doc
                  << ")";
    return -1;
  }
}

class shell : public server_suite {
protected:
  run_result sh(const std::string& command, bool json = false) {
    std::vector<std::string> args{MM_SHELL_BIN, "--connect",
                                  server_->admin_address(), "-c", command};
    if (json)
      args.push_back("--json");
    return run(args);
  }

  /// Runs `command --json`, expects success and one JSON document.
  std::string sh_json(const std::string& command) {
    auto res = sh(command, true);
    EXPECT_TRUE(res.ok()) << command << ": " << res.err;
    EXPECT_EQ(py(res.out, "type(d).__name__"), "dict") << res.out;
    return res.out;
  }

  /// Subscribers of `ticker` at its broadcaster; 0 once it is gone.
  long long subscribers(const std::string& ticker, bool remote = false) {
    auto res = sh("ticker " + ticker, true);
    if (!res.ok())
      return 0;
    return py_int(res.out,
                  remote ? "d['remote_subscribers']" : "d['subscribers']");
  }

  void publish_ticks(const std::string& ticker, int n, double base = 100) {
    for (int i = 1; i <= n; ++i)
      pub_->publish_tick(ticker, base + i, i, 1700000000000000000LL + i);
  }
};

TEST_F(shell, stats_counts_what_the_test_did) {
  auto before = sh_json("stats");
  std::string id;
  auto s1 = start_stream({"STA"}, {}, &id);
  auto s2 = start_stream({"STA"});
  ASSERT_TRUE(pub_->wait_subscribed("STA"));
  ASSERT_TRUE(wait_until([&] { return subscribers("STA") == 2; }));
  publish_ticks("STA", 3);
  ASSERT_TRUE(s1->wait_update("STA", [](auto& u) { return u.seq() == 3; }));
  ASSERT_TRUE(s2->wait_update("STA", [](auto& u) { return u.seq() == 3; }));
  auto after = sh_json("stats");
  for (auto key :
       {"sessions", "streams", "broadcasters", "redis_subscriptions",
        "actors_running", "sessions_created_total", "sessions_ended_total",
        "ticks_received_total", "ticks_malformed_total",
        "updates_delivered_total", "updates_conflated_total",
        "batches_sent_total", "redis_connected", "uptime_ms"})
    EXPECT_EQ(py(after, "'" + std::string{key} + "' in d"), "True") << key;
  auto delta = [&](const std::string& key) {
    return py_int(after, "d['" + key + "']")
           - py_int(before, "d['" + key + "']");
  };
  EXPECT_EQ(delta("sessions_created_total"), 2);
  EXPECT_EQ(delta("sessions"), 2);
  EXPECT_EQ(delta("streams"), 2);
  EXPECT_EQ(delta("ticks_received_total"), 3);
  // Each session got seq 3; what it did not get was conflated.
  auto got = static_cast<long long>(s1->updates_of("STA").size()
                                    + s2->updates_of("STA").size());
  EXPECT_EQ(delta("updates_delivered_total"), got);
  EXPECT_EQ(delta("updates_delivered_total") + delta("updates_conflated_total"),
            6);
  EXPECT_EQ(py(after, "d['redis_connected']"), "True");
  EXPECT_GE(py_int(after, "d['actors_running']"), 6);
  EXPECT_GT(py_int(after, "d['uptime_ms']"), py_int(before, "d['uptime_ms']"));
  // The same in text: a table with human units.
  auto text = sh("stats");
  ASSERT_TRUE(text.ok()) << text.err;
  EXPECT_NE(text.out.find("sessions_created_total"), std::string::npos);
  EXPECT_NE(text.out.find("uptime"), std::string::npos);
  // Ended sessions are counted by reason.
  ASSERT_TRUE(call_stop(*stub_, id).ok());
  ASSERT_TRUE(s1->wait_finished());
  auto ended = sh_json("stats");
  EXPECT_EQ(py_int(ended, "d['sessions_ended_total'].get('stopped', 0)")
              - py_int(before, "d['sessions_ended_total'].get('stopped', 0)"),
            1);
}

TEST_F(shell, sessions_and_session_describe_live_sessions) {
  pb::SessionOptions opts;
  opts.set_mode(pb::DELIVERY_MODE_ALL);
  opts.set_max_batch(7);
  std::string id;
  auto s = start_stream({"SES", "SES.B"}, opts, &id);
  auto idle = start({"SES"});
  ASSERT_TRUE(pub_->wait_subscribed("SES"));
  ASSERT_TRUE(wait_until([&] { return subscribers("SES") == 2; }));
  publish_ticks("SES", 4);
  ASSERT_TRUE(s->wait_count("SES", 4));
  auto all = sh_json("sessions --ticker ses");
  EXPECT_EQ(py_int(all, "d['count']"), 2);
  EXPECT_EQ(py_int(all, "len(d['sessions'])"), 2);
  auto mine = "[x for x in d['sessions'] if x['id'] == '" + id + "'][0]";
  EXPECT_EQ(py(all, mine + "['tickers']"), "['SES', 'SES.B']");
  EXPECT_EQ(py(all, mine + "['mode']"), "all");
  EXPECT_EQ(py(all, mine + "['stream_attached']"), "True");
  EXPECT_EQ(py_int(all, mine + "['delivered']"), 4);
  EXPECT_EQ(py_int(all, mine + "['pending']"), 0);
  EXPECT_NE(py(all, mine + "['peer']"), "");
  auto other = "[x for x in d['sessions'] if x['id'] == '" + idle.session_id()
               + "'][0]";
  EXPECT_EQ(py(all, other + "['stream_attached']"), "False");
  EXPECT_EQ(py(all, other + "['delivered']"), "0");
  // --limit keeps the oldest.
  auto one = sh_json("sessions --ticker SES --limit 1");
  EXPECT_EQ(py(one, "d['sessions'][0]['id']"), id);
  // One session with its options and last activity.
  auto x = sh_json("session " + id);
  EXPECT_EQ(py(x, "d['id']"), id);
  EXPECT_EQ(py_int(x, "d['options']['max_batch']"), 7);
  EXPECT_EQ(py(x, "d['options']['mode']"), "all");
  EXPECT_EQ(py_int(x, "d['delivered']"), 4);
  EXPECT_GE(py_int(x, "d['last_update_ms']"), 0);
  EXPECT_GE(py_int(x, "d['last_write_ms']"), 0);
  EXPECT_GE(py_int(x, "d['batches']"), 1);
  // Text: aligned tables naming the session.
  auto text = sh("sessions");
  ASSERT_TRUE(text.ok()) << text.err;
  EXPECT_NE(text.out.find(id), std::string::npos);
  EXPECT_NE(text.out.find("delivered"), std::string::npos);
  auto one_text = sh("session " + id);
  ASSERT_TRUE(one_text.ok()) << one_text.err;
  EXPECT_NE(one_text.out.find("last_update"), std::string::npos);
  EXPECT_NE(one_text.out.find("SES.B"), std::string::npos);
}

TEST_F(shell, tickers_and_ticker_show_subscribers_seq_and_rate) {
  auto s1 = start_stream({"TKA"});
  auto s2 = start_stream({"TKA", "TKB"});
  ASSERT_TRUE(pub_->wait_subscribed("TKA"));
  ASSERT_TRUE(pub_->wait_subscribed("TKB"));
  ASSERT_TRUE(wait_until([&] { return subscribers("TKA") == 2; }));
  publish_ticks("TKA", 5, 200);
  ASSERT_TRUE(s2->wait_update("TKA", [](auto& u) { return u.seq() == 5; }));
  auto t = sh_json("ticker tka");
  EXPECT_EQ(py(t, "d['ticker']"), "TKA");
  EXPECT_EQ(py_int(t, "d['subscribers']"), 2);
  EXPECT_EQ(py_int(t, "d['remote_subscribers']"), 0);
  EXPECT_EQ(py_int(t, "d['seq']"), 5);
  // The epoch that seq counts in, as the clients' updates carry it.
  auto epoch = s2->updates_of("TKA").back().epoch();
  EXPECT_NE(epoch, 0u);
  EXPECT_EQ(py(t, "d['epoch']"), std::to_string(epoch));
  EXPECT_EQ(py(t, "d['last']['epoch']"), std::to_string(epoch));
  EXPECT_EQ(py(t, "d['upstream_connected']"), "True");
  EXPECT_EQ(py(t, "float(d['last']['price'])"), "205.0");
  EXPECT_EQ(py_int(t, "sum(d['per_second'])"), 5);
  EXPECT_EQ(py_int(t, "len(d['per_second'])"), 10);
  EXPECT_EQ(py(t, "d['rate_per_s']"), "0.5");
  EXPECT_GE(py_int(t, "d['last_update_ms']"), 0);
  auto all = sh_json("tickers");
  EXPECT_EQ(py_int(all, "[x for x in d['tickers'] if x['ticker'] == 'TKB']"
                        "[0]['subscribers']"),
            1);
  EXPECT_EQ(py_int(all, "[x for x in d['tickers'] if x['ticker'] == 'TKB']"
                        "[0]['seq']"),
            0);
  auto text = sh("tickers");
  ASSERT_TRUE(text.ok()) << text.err;
  EXPECT_NE(text.out.find("TKA"), std::string::npos);
  EXPECT_NE(text.out.find("0.5/s"), std::string::npos);
  auto one = sh("ticker TKA");
  ASSERT_TRUE(one.ok()) << one.err;
  EXPECT_NE(one.out.find("205.00"), std::string::npos);
  EXPECT_NE(one.out.find(std::to_string(epoch)), std::string::npos) << one.out;
}

TEST_F(shell, actors_counts_running_actors_by_kind) {
  // Earlier tests' sessions and broadcasters end (and linger out) first.
  std::string before;
  ASSERT_TRUE(wait_until([&] {
    before = sh_json("actors");
    return py_int(before, "d['sessions']") == 0
           && py_int(before, "d['broadcasters']") == 0;
  }));
  EXPECT_EQ(py_int(before, "d['registry']"), 1);
  EXPECT_EQ(py_int(before, "d['directory']"), 1);
  EXPECT_EQ(py_int(before, "d['listener']"), 1);
  EXPECT_EQ(py_int(before, "d['inspector']"), 1);
  auto s = start_stream({"ACT1", "ACT2"});
  ASSERT_TRUE(wait_until([&] { return subscribers("ACT2") == 1; }));
  auto during = sh_json("actors");
  EXPECT_EQ(py_int(during, "d['sessions']") - py_int(before, "d['sessions']"),
            1);
  EXPECT_EQ(py_int(during, "d['broadcasters']")
              - py_int(before, "d['broadcasters']"),
            2);
  EXPECT_EQ(py_int(during, "d['total']") - py_int(before, "d['total']"), 3);
  s->cancel();
  // Back down once the session ended and the broadcasters lingered out.
  EXPECT_TRUE(wait_until([&] {
    auto x = sh_json("actors");
    return py_int(x, "d['total']") == py_int(before, "d['total']");
  }));
  auto text = sh("actors");
  ASSERT_TRUE(text.ok()) << text.err;
  EXPECT_NE(text.out.find("ticker_broadcaster"), std::string::npos);
}

TEST_F(shell, kill_ends_the_stream_with_aborted_and_the_reason) {
  auto before = sh_json("stats");
  std::string id;
  auto s = start_stream({"KIL"}, {}, &id);
  ASSERT_TRUE(wait_until([&] { return subscribers("KIL") == 1; }));
  auto res = sh("kill " + id + " maintenance window");
  ASSERT_TRUE(res.ok()) << res.err;
  EXPECT_NE(res.out.find(id), std::string::npos);
  auto status = s->wait_finished();
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(status->error_code(), grpc::StatusCode::ABORTED)
    << describe(*status);
  EXPECT_NE(status->error_message().find("maintenance window"),
            std::string::npos)
    << describe(*status);
  // --json, and the ended count by reason.
  std::string id2;
  auto s2 = start_stream({"KIL"}, {}, &id2);
  auto json = sh_json("kill " + id2);
  EXPECT_EQ(py(json, "d['killed']"), id2);
  ASSERT_TRUE(s2->wait_finished().has_value());
  EXPECT_TRUE(wait_until([&] {
    auto after = sh_json("stats");
    return py_int(after, "d['sessions_ended_total'].get('killed', 0)")
             - py_int(before, "d['sessions_ended_total'].get('killed', 0)")
           == 2;
  }));
  // The session is gone for the shell too.
  auto gone = sh("session " + id);
  EXPECT_FALSE(gone.ok());
  EXPECT_NE(gone.err.find("no session with id"), std::string::npos) << gone.err;
}

TEST_F(shell, watch_tails_ticks_and_a_killed_shell_leaves_nothing_behind) {
  // A client keeps the broadcaster alive, so its subscriber count is exact.
  auto s = start_stream({"WAT"});
  ASSERT_TRUE(wait_until([&] { return subscribers("WAT") == 1; }));
  child w{
    {MM_SHELL_BIN, "--connect", server_->admin_address(), "-c", "watch WAT"}};
  ASSERT_TRUE(wait_until([&] { return subscribers("WAT", true) == 1; },
                         milliseconds{10000}))
    << w.err;
  EXPECT_EQ(subscribers("WAT"), 2);
  publish_ticks("WAT", 3, 50);
  EXPECT_TRUE(w.wait_output("seq 3", milliseconds{5000})) << w.out;
  EXPECT_NE(w.out.find("WAT"), std::string::npos);
  EXPECT_NE(w.out.find("53.0000"), std::string::npos) << w.out;
  // SIGKILL: no goodbye; the node finds out from the lost connection.
  w.signal(SIGKILL);
  EXPECT_TRUE(wait_until([&] { return subscribers("WAT", true) == 0; },
                         milliseconds{15000}));
  EXPECT_EQ(subscribers("WAT"), 1);
  auto a = sh_json("actors");
  EXPECT_EQ(py_int(a, "d['watchers']"), 0);
  // --json --count: one JSON object per tick, and a clean exit.
  child w2{{MM_SHELL_BIN, "--connect", server_->admin_address(), "--json", "-c",
            "watch --count 2 WAT"}};
  ASSERT_TRUE(wait_until([&] { return subscribers("WAT", true) == 1; },
                         milliseconds{10000}));
  publish_ticks("WAT", 2, 60);
  auto res = w2.finish(milliseconds{10000});
  EXPECT_TRUE(res.ok()) << res.err;
  auto first = res.out.substr(0, res.out.find('\n'));
  auto second = res.out.substr(res.out.find('\n') + 1);
  EXPECT_EQ(py_int(first, "d['seq']"), 4) << res.out;
  EXPECT_EQ(py_int(second, "d['seq']"), 5) << res.out;
  EXPECT_EQ(py(second, "float(d['price'])"), "62.0");
  // Leaving on its own also unsubscribes.
  EXPECT_TRUE(wait_until([&] { return subscribers("WAT", true) == 0; }));
  // Ctrl-C ends the watch with status 0.
  child w3{
    {MM_SHELL_BIN, "--connect", server_->admin_address(), "-c", "watch WAT"}};
  ASSERT_TRUE(wait_until([&] { return subscribers("WAT", true) == 1; },
                         milliseconds{10000}));
  w3.signal(SIGINT);
  EXPECT_TRUE(w3.finish(milliseconds{10000}).ok());
  EXPECT_TRUE(wait_until([&] { return subscribers("WAT", true) == 0; }));
}

TEST_F(shell, interactive_session_through_a_pty) {
  auto s = start_stream({"PTY"});
  ASSERT_TRUE(wait_until([&] { return subscribers("PTY") == 1; }));
  std::string hist = "/tmp/mm_shell_test_history_" + std::to_string(getpid());
  std::vector<std::string> args{MM_SHELL_BIN, "--connect",
                                server_->admin_address()};
  auto envs = environment({"MM_SHELL_HISTORY=" + hist, "TERM=xterm"});
  auto argv = c_strings(args);
  auto envp = c_strings(envs);
  int master = -1;
  auto pid = ::forkpty(&master, nullptr, nullptr, nullptr);
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  std::string screen;
  auto read_until = [&](const std::string& needle, milliseconds timeout) {
    auto deadline = clock_type::now() + timeout;
    while (screen.find(needle) == std::string::npos) {
      auto left =
        std::chrono::duration_cast<milliseconds>(deadline - clock_type::now());
      if (left.count() <= 0)
        return false;
      pollfd pfd{master, POLLIN, 0};
      if (::poll(&pfd, 1, static_cast<int>(left.count())) <= 0)
        return false;
      char buf[4096];
      auto n = ::read(master, buf, sizeof(buf));
      if (n <= 0)
        return false;
      screen.append(buf, static_cast<size_t>(n));
    }
    return true;
  };
  auto type = [&](const std::string& keys) {
    ASSERT_EQ(::write(master, keys.data(), keys.size()),
              static_cast<ssize_t>(keys.size()));
  };
  ASSERT_TRUE(read_until("> ", milliseconds{10000})) << screen;
  type("stats\r");
  EXPECT_TRUE(read_until("uptime", milliseconds{10000})) << screen;
  // Tab completes a command ("act" is only "actors") and a ticker, which
  // the shell fetches from the node.
  screen.clear();
  type("act\t\r");
  EXPECT_TRUE(read_until("ticker_broadcaster", milliseconds{10000})) << screen;
  screen.clear();
  type("ticker PT\t\r");
  EXPECT_TRUE(read_until("rate (10s)", milliseconds{10000})) << screen;
  EXPECT_NE(screen.find("PTY"), std::string::npos) << screen;
  // Errors are reported and the shell goes on.
  screen.clear();
  type("frobnicate\r");
  EXPECT_TRUE(read_until("unknown command", milliseconds{10000})) << screen;
  type("quit\r");
  int status = 0;
  auto deadline = clock_type::now() + milliseconds{10000};
  while (::waitpid(pid, &status, WNOHANG) == 0
         && clock_type::now() < deadline) {
    char buf[4096];
    pollfd pfd{master, POLLIN, 0};
    if (::poll(&pfd, 1, 20) > 0 && ::read(master, buf, sizeof(buf)) <= 0)
      ::usleep(20000);
  }
  if (::waitpid(pid, &status, WNOHANG) == 0) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    ADD_FAILURE() << "the shell did not quit: " << screen;
  }
  ::close(master);
  // History was written.
  std::ifstream h{hist};
  std::string all((std::istreambuf_iterator<char>(h)),
                  std::istreambuf_iterator<char>());
  EXPECT_NE(all.find("stats"), std::string::npos);
  ::unlink(hist.c_str());
}

TEST_F(shell, errors_are_clear_and_exit_non_zero) {
  auto port = pick_free_port();
  auto refused = run({MM_SHELL_BIN, "--connect",
                      "127.0.0.1:" + std::to_string(port), "-c", "stats"});
  EXPECT_FALSE(refused.ok());
  EXPECT_NE(refused.err.find("cannot reach node at 127.0.0.1:"
                             + std::to_string(port) + ": connection refused"),
            std::string::npos)
    << refused.err;
  auto grpc_port =
    run({MM_SHELL_BIN, "--connect", server_->grpc_address(), "-c", "stats"});
  EXPECT_FALSE(grpc_port.ok());
  EXPECT_NE(grpc_port.err.find("not an mm-server admin endpoint"),
            std::string::npos)
    << grpc_port.err;
  auto unknown = sh("frobnicate");
  EXPECT_FALSE(unknown.ok());
  EXPECT_NE(unknown.err.find("unknown command \"frobnicate\""),
            std::string::npos)
    << unknown.err;
  auto session = sh("session 1b4e28ba-2fa1-41d2-883f-0016d3cca427", true);
  EXPECT_FALSE(session.ok());
  EXPECT_NE(session.err.find("no session with id"), std::string::npos)
    << session.err;
  EXPECT_NE(py(session.out, "d['error']").find("no session with id"),
            std::string::npos)
    << session.out;
  auto kill = sh("kill 1b4e28ba-2fa1-41d2-883f-0016d3cca427");
  EXPECT_FALSE(kill.ok());
  auto ticker = sh("ticker NOSUCH");
  EXPECT_FALSE(ticker.ok());
  EXPECT_NE(ticker.err.find("no broadcaster for ticker NOSUCH"),
            std::string::npos)
    << ticker.err;
  auto usage = sh("sessions --limit x");
  EXPECT_FALSE(usage.ok());
  EXPECT_NE(usage.err.find("usage: sessions"), std::string::npos) << usage.err;
}

TEST(shell_secret, a_wrong_secret_is_refused_and_the_right_one_works) {
  redis_process redis;
  // From the environment: mm-server refuses a secret on its command line.
  server_process server{redis, {}, {"MM_ADMIN_SECRET=s3cret"}};
  auto base = std::vector<std::string>{MM_SHELL_BIN, "--connect",
                                       server.admin_address(), "-c", "stats"};
  auto none = run(base);
  EXPECT_FALSE(none.ok());
  EXPECT_NE(none.err.find("admin secret rejected"), std::string::npos)
    << none.err;
  auto wrong = run(base, {"MM_ADMIN_SECRET=wrong"});
  EXPECT_FALSE(wrong.ok());
  EXPECT_NE(wrong.err.find("admin secret rejected"), std::string::npos)
    << wrong.err;
  // Not on the command line, where ps shows it.
  auto args = base;
  args.insert(args.end(), {"--secret", "s3cret"});
  auto on_line = run(args);
  EXPECT_EQ(WEXITSTATUS(on_line.status), 2);
  EXPECT_NE(on_line.err.find("--secret-file"), std::string::npos)
    << on_line.err;
  auto env = run(base, {"MM_ADMIN_SECRET=s3cret"});
  EXPECT_TRUE(env.ok()) << env.err;
  EXPECT_NE(env.out.find("uptime"), std::string::npos);
  char path[] = "/tmp/mm_shell_secret_XXXXXX";
  int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, "s3cret\n", 7), 7);
  ::close(fd);
  args = base;
  args.insert(args.end(), {"--secret-file", path});
  auto file = run(args);
  ::unlink(path);
  EXPECT_TRUE(file.ok()) << file.err;
}

TEST(shell_secret, a_remote_admin_endpoint_needs_the_flag_and_a_secret) {
  redis_process redis;
  auto refused =
    run({MM_SERVER_BIN, "--grpc-listen", "127.0.0.1:0", "--admin-listen",
         "0.0.0.0:0", "--redis", redis.address()});
  EXPECT_EQ(WEXITSTATUS(refused.status), 2);
  EXPECT_NE(refused.err.find("--admin-allow-remote"), std::string::npos)
    << refused.err;
  auto no_secret =
    run({MM_SERVER_BIN, "--grpc-listen", "127.0.0.1:0", "--admin-listen",
         "0.0.0.0:0", "--admin-allow-remote", "--redis", redis.address()});
  EXPECT_EQ(WEXITSTATUS(no_secret.status), 2);
  EXPECT_NE(no_secret.err.find("--admin-secret"), std::string::npos)
    << no_secret.err;
  // With a secret but without TLS: refused unless --insecure.
  auto no_tls =
    run({MM_SERVER_BIN, "--grpc-listen", "127.0.0.1:0", "--admin-listen",
         "0.0.0.0:0", "--admin-allow-remote", "--redis", redis.address()},
        {"MM_ADMIN_SECRET=s3cret"});
  EXPECT_EQ(WEXITSTATUS(no_tls.status), 2);
  EXPECT_NE(no_tls.err.find("no TLS"), std::string::npos) << no_tls.err;
  EXPECT_NE(no_tls.err.find("--insecure"), std::string::npos) << no_tls.err;
}

TEST(shell_secret, a_secret_on_the_command_line_is_refused) {
  redis_process redis;
  for (auto flag : {"--admin-secret", "--admin-secret=s3cret"}) {
    std::vector<std::string> args{MM_SERVER_BIN, "--grpc-listen", "127.0.0.1:0",
                                  flag};
    if (std::string{flag} == "--admin-secret")
      args.push_back("s3cret");
    auto refused = run(args);
    EXPECT_EQ(WEXITSTATUS(refused.status), 2) << flag;
    EXPECT_NE(refused.err.find("--admin-secret-file"), std::string::npos)
      << refused.err;
    EXPECT_EQ(refused.err.find("s3cret"), std::string::npos) << refused.err;
  }
}

// The flags of the two binaries whose flags are declared in their mains
// (mm-server's, mm-bench's and mm-ceiling's have unit tests): the options
// layer's bad-value exit, environment and precedence reach them.

TEST(shell_flags, bad_values_exit_2_and_the_command_line_beats_the_env) {
  auto bad = run({MM_SHELL_BIN, "--timeout-ms", "0", "-c", "stats"});
  EXPECT_EQ(WEXITSTATUS(bad.status), 2);
  EXPECT_NE(bad.err.find("mm-shell: --timeout-ms: "), std::string::npos)
    << bad.err;
  auto env = run({MM_SHELL_BIN, "-c", "stats"}, {"MM_CONNECT=nowhere"});
  EXPECT_EQ(WEXITSTATUS(env.status), 2);
  EXPECT_NE(env.err.find("mm-shell: --connect: expected HOST:PORT"),
            std::string::npos)
    << env.err;
  // The command line wins: the environment's bad value is never read, and
  // the shell gets as far as connecting (to a port nobody listens on).
  auto port = std::to_string(pick_free_port());
  auto line =
    run({MM_SHELL_BIN, "--connect", "127.0.0.1:" + port, "-c", "stats"},
        {"MM_CONNECT=nowhere"});
  EXPECT_EQ(WEXITSTATUS(line.status), 1) << line.err;
  EXPECT_NE(line.err.find("cannot reach node at 127.0.0.1:" + port),
            std::string::npos)
    << line.err;
  auto help = run({MM_SHELL_BIN, "--help"});
  EXPECT_TRUE(help.ok()) << help.err;
  EXPECT_NE(help.out.find("MM_CONNECT"), std::string::npos) << help.out;
}

TEST(feed_flags, bad_values_exit_2_and_the_command_line_beats_the_env) {
  auto bad = run({MM_FEED_BIN, "--rate", "0"});
  EXPECT_EQ(WEXITSTATUS(bad.status), 2);
  EXPECT_EQ(bad.err, "mm-feed: --rate: expected a number above 0 and at "
                     "most 10000000, got \"0\"\n");
  auto env = run({MM_FEED_BIN}, {"MM_RATE=abc"});
  EXPECT_EQ(WEXITSTATUS(env.status), 2);
  EXPECT_NE(env.err.find("mm-feed: --rate: "), std::string::npos) << env.err;
  // With --rate on the command line MM_RATE is not read: mm-feed goes on to
  // Redis, which is not there (exit 1).
  auto port = std::to_string(pick_free_port());
  auto line = run({MM_FEED_BIN, "--rate", "5", "--redis", "127.0.0.1:" + port,
                   "--seconds", "1"},
                  {"MM_RATE=abc"});
  EXPECT_EQ(WEXITSTATUS(line.status), 1) << line.err;
  EXPECT_NE(line.err.find("cannot reach Redis"), std::string::npos) << line.err;
}

} // namespace
} // namespace mm::test
