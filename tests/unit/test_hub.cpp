// Hugging Face Hub ids: parsing, digests, settings from the environment, the cache layout, and downloads from
// a real HTTP server on 127.0.0.1 (tests/hub/hub_test_server.py, started once for the suite) that answers as
// the Hub does: redirects of large files to a storage host, a gated repository, a connection dropped halfway
// through a file, a corrupt blob, and a counter of connections (offline mode makes none).
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/paths.h"
#include "hub/cache_layout.h"
#include "hub/digest.h"
#include "hub/http_client.h"
#include "hub/hub_id.h"
#include "hub/hub_protocol.h"
#include "hub/hub_settings.h"
#include "hub/model_path.h"
#include "hub/snapshot.h"
#include "io/json.h"
#include "mbridge.h"
#include "support/test_support.h"

extern char** environ;

namespace {

using mb::is_regular_file;
using mb::path_exists;
using mb::Status;
using mb::hub::HubId;
using mb::hub::HubSettings;
using mb::hub::Need;

const char* const kToken = "hf_mbridge_test_token";
const char* const kTiny = "mbridge-test/tiny-llama";

// ---- the test Hub -----------------------------------------------------------------------------------------

class TestHub {
 public:
  TestHub() {
    int in[2], out[2];
    if (pipe(in) != 0 || pipe(out) != 0) return;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in[0], 0);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    posix_spawn_file_actions_addclose(&actions, in[1]);
    posix_spawn_file_actions_addclose(&actions, out[0]);
    std::string script = std::string(MB_SOURCE_DIR) + "/tests/hub/hub_test_server.py";
    std::string token = std::string("--token=") + kToken;
    char* argv[] = {const_cast<char*>("python3"), const_cast<char*>(script.c_str()), const_cast<char*>(token.c_str()),
                    nullptr};
    int rc = posix_spawnp(&pid_, "python3", &actions, nullptr, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    close(in[0]);
    close(out[1]);
    stdin_ = in[1];
    if (rc != 0) {
      pid_ = -1;
      close(out[0]);
      return;
    }
    std::string line;
    char c;
    while (read(out[0], &c, 1) == 1 && c != '\n') line.push_back(c);
    close(out[0]);
    if (line.rfind("PORT ", 0) == 0) port_ = std::atoi(line.c_str() + 5);
  }
  ~TestHub() {
    if (stdin_ >= 0) close(stdin_);  // the server exits when its input closes
    if (pid_ > 0) {
      int status = 0;
      for (int i = 0; i < 50 && waitpid(pid_, &status, WNOHANG) == 0; ++i) usleep(20000);
      if (waitpid(pid_, &status, WNOHANG) == 0) {
        kill(pid_, SIGTERM);
        waitpid(pid_, &status, 0);
      }
    }
  }
  bool running() const { return port_ > 0; }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }

  mb::json::Value admin(const std::string& route) const {
    mb::hub::HttpRequest r;
    r.url = endpoint() + "/_test/" + route;
    auto response = mb::hub::http_request(r);
    return mb::json::parse(response.body, r.url);
  }
  void reset() const { admin("reset"); }
  int64_t connections() const { return admin("stats").find("connections")->as_int(); }
  // The requests since the last reset: method, path, range, auth, host.
  std::vector<std::map<std::string, std::string>> requests() const {
    std::vector<std::map<std::string, std::string>> out;
    const mb::json::Value stats = admin("stats");
    for (const auto& r : stats.find("requests")->items()) {
      std::map<std::string, std::string> m;
      for (const auto& [k, v] : r.members()) m[k] = v.is_string() ? v.as_string() : "";
      out.push_back(m);
    }
    return out;
  }

 private:
  pid_t pid_ = -1;
  int stdin_ = -1;
  int port_ = 0;
};

TestHub* g_hub = nullptr;

class HubTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    setenv("no_proxy", "127.0.0.1,localhost", 1);  // a proxy configured for the machine must not see the test Hub
    setenv("NO_PROXY", "127.0.0.1,localhost", 1);
    g_hub = new TestHub();
  }
  static void TearDownTestSuite() {
    delete g_hub;
    g_hub = nullptr;
  }
  void SetUp() override {
    if (!mb::hub::http_available()) GTEST_SKIP() << "built without libcurl (MB_CURL=OFF): no downloads to test";
    ASSERT_TRUE(g_hub && g_hub->running()) << "tests/hub/hub_test_server.py did not start (python3 missing?)";
    g_hub->reset();
    cache_ = mbtest::scratch_dir("cache");
    settings_.endpoint = g_hub->endpoint();
    settings_.cache_dir = cache_;
    settings_.retry_pause_s = 0.01;
    settings_.metadata_timeout_s = 5;
  }
  HubId id(const std::string& text) const { return *mb::hub::parse_hub_id(text); }
  mb::Error error_of(const std::function<void()>& fn) const {
    try {
      fn();
    } catch (const mb::Error& e) {
      return e;
    }
    return mb::Error(Status::kOk, "no error");
  }
  std::string fixture_file(const std::string& name) const {
    return mbtest::read_file(mbtest::fixture("bridge/hf/llama31/" + name));
  }
  size_t count(const std::string& method, const std::string& path_part) const {
    size_t n = 0;
    for (auto& r : g_hub->requests())
      if (r["method"] == method && r["path"].find(path_part) != std::string::npos) ++n;
    return n;
  }

  std::string cache_;
  HubSettings settings_;
};

std::string sha256_hex(const std::string& bytes) {
  mb::hub::Sha256 h;
  h.update(bytes.data(), bytes.size());
  return h.hex_digest();
}

const std::vector<std::string> kLlama31Files = {"config.json",
                                                "generation_config.json",
                                                "model-00001-of-00002.safetensors",
                                                "model-00002-of-00002.safetensors",
                                                "model.safetensors.index.json",
                                                "tokenizer.json",
                                                "tokenizer_config.json"};

// ---- ids -----------------------------------------------------------------------------------------------------

TEST(HubId, ParsesOrgNameAndRevision) {
  auto a = mb::hub::parse_hub_id("meta-llama/Llama-3.2-1B");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->repo, "meta-llama/Llama-3.2-1B");
  EXPECT_EQ(a->revision, "main");
  EXPECT_FALSE(a->explicit_revision);
  auto b = mb::hub::parse_hub_id("Qwen/Qwen3-1.7B@refs/pr/12");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->repo, "Qwen/Qwen3-1.7B");
  EXPECT_EQ(b->revision, "refs/pr/12");
  EXPECT_EQ(b->text(), "Qwen/Qwen3-1.7B@refs/pr/12");
  EXPECT_EQ(mb::hub::repo_folder_name("Qwen/Qwen3-1.7B"), "models--Qwen--Qwen3-1.7B");
}

TEST(HubId, RejectsWhatIsNoHubId) {
  for (const char* bad : {"", "llama", "/abs/path", "./rel/dir", "a/b/c", "org/", "/name", "org/na me", "org/../x",
                          "../org/name", "org/name@", "org/name@../../etc", "org/name@a//b", "org/name@/x",
                          "org/-name", "org/name-", "org/na--me", "org/na..me", "org/name@v1\n", "or\tg/name",
                          "org/name@refs/pr/..", "org/name@.", "org/name@a/./b"}) {
    std::string why;
    EXPECT_FALSE(mb::hub::parse_hub_id(bad, &why)) << "'" << bad << "'";
  }
  EXPECT_FALSE(mb::hub::parse_hub_id("org/" + std::string(97, 'a')));
  EXPECT_TRUE(mb::hub::parse_hub_id("org/" + std::string(96, 'a')));
  EXPECT_TRUE(mb::hub::parse_hub_id("_org/name_@v1.0"));
  EXPECT_TRUE(mb::hub::is_commit_sha("0123456789abcdef0123456789abcdef01234567"));
  EXPECT_FALSE(mb::hub::is_commit_sha("0123456789ABCDEF0123456789abcdef01234567"));
}

// ---- digests (FIPS 180-4 examples, git hash-object) -----------------------------------------------------

TEST(HubDigest, Sha256AndSha1KnownAnswers) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  mb::hub::Sha256 million;  // one million 'a', fed in uneven pieces
  std::string piece(997, 'a');
  size_t left = 1000000;
  while (left) {
    size_t n = std::min(left, piece.size());
    million.update(piece.data(), n);
    left -= n;
  }
  EXPECT_EQ(million.hex_digest(), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  mb::hub::Sha1 sha1;
  sha1.update("abc", 3);
  EXPECT_EQ(sha1.hex_digest(), "a9993e364706816aba3e25717850c26c9cd0d89d");
  // git hash-object of "Hello, World!" (huggingface_hub's git_hash example)
  mb::hub::BlobDigest blob("b45ef6fec89518d314f546fd6c3025367b721684", 13);
  EXPECT_EQ(blob.kind(), mb::hub::BlobDigest::Kind::kGitSha1);
  blob.update("Hello, World!", 13);
  EXPECT_EQ(blob.finish(), "b45ef6fec89518d314f546fd6c3025367b721684");
  EXPECT_EQ(mb::hub::BlobDigest::kind_of("W-not-a-digest"), mb::hub::BlobDigest::Kind::kNone);
}

TEST(HubDigest, HardwareAndPortableSha256Agree) {
  std::string data(300000, '\0');
  uint32_t x = 12345;
  for (auto& c : data) c = static_cast<char>((x = x * 1103515245u + 12345u) >> 24);
  for (size_t n : {0, 1, 55, 56, 63, 64, 65, 119, 120, 128, 1000, 65536, 299999}) {
    mb::hub::Sha256 portable(false), hardware(true);
    portable.update(data.data(), n);
    size_t at = 0, piece = 1;
    while (at < n) {  // pieces of growing, uneven sizes: partial blocks on both sides
      size_t k = std::min(piece, n - at);
      hardware.update(data.data() + at, k);
      at += k;
      piece = piece * 3 + 1;
    }
    EXPECT_EQ(portable.hex_digest(), hardware.hex_digest()) << n << " bytes";
  }
  std::printf("SHA extensions %s on this machine\n", mb::hub::Sha256::hardware_available() ? "used" : "absent");
}

// ---- settings ------------------------------------------------------------------------------------------------

class ScopedEnv {
 public:
  void set(const char* name, const std::string& value) {
    save(name);
    setenv(name, value.c_str(), 1);
  }
  void unset(const char* name) {
    save(name);
    unsetenv(name);
  }
  ~ScopedEnv() {
    for (auto& [name, value] : saved_)
      if (value) setenv(name.c_str(), value->c_str(), 1);
      else unsetenv(name.c_str());
  }

 private:
  void save(const char* name) {
    if (saved_.count(name)) return;
    const char* v = std::getenv(name);
    saved_[name] = v ? std::optional<std::string>(v) : std::nullopt;
  }
  std::map<std::string, std::optional<std::string>> saved_;
};

TEST(HubSettings, ReadsTheVariablesPythonToolsRead) {
  const std::string home = mbtest::scratch_dir("home");
  ScopedEnv env;
  for (const char* n : {"HF_ENDPOINT", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN",
                        "HF_TOKEN_PATH", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "XDG_CACHE_HOME", "HF_HOME"})
    env.unset(n);
  env.set("HOME", home);
  HubSettings s = HubSettings::from_environment();
  EXPECT_EQ(s.endpoint, "https://huggingface.co");
  EXPECT_EQ(s.cache_dir, home + "/.cache/huggingface/hub");
  EXPECT_EQ(s.token, "");
  EXPECT_FALSE(s.offline);

  env.set("XDG_CACHE_HOME", home + "/xdg");
  EXPECT_EQ(HubSettings::from_environment().cache_dir, home + "/xdg/huggingface/hub");
  env.set("HF_HOME", home + "/hf");
  mb::make_directories(home + "/hf");
  mbtest::write_file(home + "/hf/token", "  hf_from_file\n");
  s = HubSettings::from_environment();
  EXPECT_EQ(s.cache_dir, home + "/hf/hub");
  EXPECT_EQ(s.token, "hf_from_file");  // the file `hf auth login` writes
  EXPECT_EQ(s.token_origin, home + "/hf/token");
  mbtest::write_file(home + "/other_token", "hf_other\n");
  env.set("HF_TOKEN_PATH", home + "/other_token");
  EXPECT_EQ(HubSettings::from_environment().token, "hf_other");
  env.set("HF_TOKEN", "hf_env");
  s = HubSettings::from_environment();
  EXPECT_EQ(s.token, "hf_env");
  EXPECT_EQ(s.token_origin, "HF_TOKEN");
  env.set("HUGGINGFACE_HUB_CACHE", home + "/legacy");
  EXPECT_EQ(HubSettings::from_environment().cache_dir, home + "/legacy");
  env.set("HF_HUB_CACHE", "~/new");
  EXPECT_EQ(HubSettings::from_environment().cache_dir, home + "/new");
  env.set("HF_ENDPOINT", "http://mirror.example:8080/");
  EXPECT_EQ(HubSettings::from_environment().endpoint, "http://mirror.example:8080");
  for (const char* yes : {"1", "ON", "yes", "True"}) {
    env.set("HF_HUB_OFFLINE", yes);
    EXPECT_TRUE(HubSettings::from_environment().offline) << yes;
  }
  env.set("HF_HUB_OFFLINE", "0");
  EXPECT_FALSE(HubSettings::from_environment().offline);
  env.set("TRANSFORMERS_OFFLINE", "1");
  EXPECT_TRUE(HubSettings::from_environment().offline);
}

// ---- what the Hub's answers mean ------------------------------------------------------------------------

mb::hub::HttpResponse answer(long status, std::vector<std::pair<std::string, std::string>> headers) {
  mb::hub::HttpResponse r;
  r.status = status;
  r.headers = std::move(headers);
  return r;
}

TEST(HubProtocol, FileMetadataFromHeadAnswers) {
  const std::string commit(40, 'a'), sha(64, 'b');
  auto lfs = mb::hub::parse_file_metadata(
      answer(302, {{"x-repo-commit", commit}, {"etag", "\"pointer\""}, {"x-linked-etag", "\"" + sha + "\""},
                   {"x-linked-size", "123"}, {"location", "https://cdn.example/x?sig=1"}}),
      "https://hub.example/o/n/resolve/main/w.safetensors", "w");
  EXPECT_EQ(lfs.commit, commit);
  EXPECT_EQ(lfs.etag, sha);
  EXPECT_EQ(lfs.size, 123u);
  EXPECT_EQ(lfs.location, "https://cdn.example/x?sig=1");
  auto git = mb::hub::parse_file_metadata(
      answer(200, {{"x-repo-commit", commit}, {"etag", "W/\"0123456789abcdef0123456789abcdef01234567\""},
                   {"content-length", "45"}}),
      "https://hub.example/o/n/resolve/main/config.json", "config.json");
  EXPECT_EQ(git.etag, "0123456789abcdef0123456789abcdef01234567");
  EXPECT_EQ(git.size, 45u);
  EXPECT_EQ(git.location, "https://hub.example/o/n/resolve/main/config.json");
  auto relative = mb::hub::parse_file_metadata(
      answer(302, {{"x-repo-commit", commit}, {"x-linked-etag", sha}, {"x-linked-size", "1"}, {"location", "/b/x"}}),
      "https://hub.example/o/n/resolve/main/w", "w");
  EXPECT_EQ(relative.location, "https://hub.example/b/x");

  auto bad = [&](std::vector<std::pair<std::string, std::string>> h, long status = 200) {
    try {
      mb::hub::parse_file_metadata(answer(status, std::move(h)), "https://hub.example/f", "f");
    } catch (const mb::Error& e) {
      return e.status();
    }
    return Status::kOk;
  };
  EXPECT_EQ(bad({{"etag", "x"}, {"content-length", "1"}}), Status::kNetwork);  // no X-Repo-Commit: not a Hub
  EXPECT_EQ(bad({{"x-repo-commit", "main"}, {"etag", "x"}, {"content-length", "1"}}), Status::kFormat);
  EXPECT_EQ(bad({{"x-repo-commit", commit}, {"content-length", "1"}}), Status::kFormat);
  EXPECT_EQ(bad({{"x-repo-commit", commit}, {"etag", "\"../../etc/passwd\""}, {"content-length", "1"}}),
            Status::kFormat);
  EXPECT_EQ(bad({{"x-repo-commit", commit}, {"etag", "abc"}, {"content-length", "-1"}}), Status::kFormat);
  EXPECT_EQ(bad({{"x-repo-commit", commit}, {"etag", "abc"}, {"content-length", "99999999999999999999"}}),
            Status::kFormat);
  EXPECT_EQ(bad({{"x-repo-commit", commit}, {"etag", "abc"}, {"content-length", "5"}}, 302), Status::kFormat);
  EXPECT_EQ(bad({{"x-repo-commit", commit}, {"etag", "abc"}, {"x-linked-size", "5"}, {"location", "file:///x"}}, 302),
            Status::kFormat);
}

TEST(HubProtocol, RepositoryListing) {
  auto l = mb::hub::parse_repo_listing(
      R"({"sha": "0123456789abcdef0123456789abcdef01234567", "siblings": [{"rfilename": "config.json"},
         {"rfilename": "../escape"}, {"rfilename": "/abs"}, {"rfilename": "original/params.json"}]})",
      "listing");
  EXPECT_EQ(l.commit, "0123456789abcdef0123456789abcdef01234567");
  EXPECT_EQ(l.files, (std::vector<std::string>{"config.json", "original/params.json"}));
  for (const char* bad : {"[]", R"({"siblings": []})", R"({"sha": "main", "siblings": []})",
                          R"({"sha": "0123456789abcdef0123456789abcdef01234567"})",
                          R"({"sha": "0123456789abcdef0123456789abcdef01234567", "siblings": [{"x": 1}]})"})
    EXPECT_THROW(mb::hub::parse_repo_listing(bad, "listing"), mb::Error) << bad;
  EXPECT_EQ(mb::hub::resolve_url("https://h", "o/n", "refs/pr/1", "a b/c.json"),
            "https://h/o/n/resolve/refs%2Fpr%2F1/a%20b/c.json");
  EXPECT_EQ(mb::hub::api_revision_url("https://h", "o/n", "v1.0"), "https://h/api/models/o/n/revision/v1.0");
}

TEST(HubCache, LinksRefsAndMarkers) {
  const std::string dir = mbtest::scratch_dir("cache");
  mb::hub::RepoCache cache(dir, "org/name");
  const std::string commit(40, 'c');
  EXPECT_EQ(cache.folder(), dir + "/models--org--name");
  mb::make_directories(dir + "/models--org--name/blobs");
  mbtest::write_file(cache.blob("abc"), "bytes");
  cache.link(commit, "config.json", "abc");
  cache.link(commit, "original/sub/params.json", "abc");
  char target[256];
  ssize_t n = readlink(cache.pointer(commit, "config.json").c_str(), target, sizeof(target));
  EXPECT_EQ(std::string(target, static_cast<size_t>(n)), "../../blobs/abc");
  n = readlink(cache.pointer(commit, "original/sub/params.json").c_str(), target, sizeof(target));
  EXPECT_EQ(std::string(target, static_cast<size_t>(n)), "../../../../blobs/abc");
  EXPECT_TRUE(cache.has_file(commit, "original/sub/params.json"));
  cache.link(commit, "config.json", "other");  // replaced, dangling: not a file any more
  EXPECT_FALSE(cache.has_file(commit, "config.json"));

  EXPECT_FALSE(cache.commit_for("main"));
  cache.write_ref("main", commit);
  EXPECT_EQ(mbtest::read_file(dir + "/models--org--name/refs/main"), commit);  // no newline, as Python writes it
  EXPECT_EQ(cache.commit_for("main"), commit);
  cache.write_ref("refs/pr/1", commit);
  EXPECT_EQ(cache.commit_for("refs/pr/1"), commit);
  mbtest::write_file(dir + "/models--org--name/refs/damaged", "not a sha");
  EXPECT_FALSE(cache.commit_for("damaged"));
  EXPECT_EQ(cache.commit_for(commit), commit);

  cache.mark_missing(commit, "special_tokens_map.json");
  EXPECT_TRUE(cache.known_missing(commit, "special_tokens_map.json"));
  EXPECT_EQ(mb::file_size(dir + "/models--org--name/.no_exist/" + commit + "/special_tokens_map.json"), 0u);
}

// ---- downloads from the test Hub ----------------------------------------------------------------------------

TEST_F(HubTest, DownloadsAModelThenUsesTheCache) {
  auto snap = mb::hub::fetch_snapshot(id(kTiny), Need::kModel, settings_);
  EXPECT_TRUE(snap.used_network);
  EXPECT_EQ(snap.downloaded_files, 7);
  for (const auto& f : kLlama31Files) {
    EXPECT_EQ(mbtest::read_file(snap.path + "/" + f), fixture_file(f)) << f;
    EXPECT_EQ(count("GET", "/" + f), f.find(".safetensors") != std::string::npos && f.find("index") == std::string::npos
                                         ? 0u  // large files come from the storage URL
                                         : 1u)
        << f;
  }
  // Large files: the HEAD was answered with a redirect to another host, where no token may go; both came from
  // there with their sha256 as name.
  EXPECT_EQ(count("GET", "/_cdn/"), 2u);
  mb::hub::RepoCache cache(cache_, kTiny);
  EXPECT_EQ(*cache.commit_for("main"), snap.commit);
  EXPECT_TRUE(is_regular_file(cache.blob(sha256_hex(fixture_file("model-00001-of-00002.safetensors")))));

  // the same commit again: nothing asked at all; "main" again: one listing request, nothing downloaded
  g_hub->reset();
  auto again = mb::hub::fetch_snapshot(id(std::string(kTiny) + "@" + snap.commit), Need::kModel, settings_);
  EXPECT_EQ(again.path, snap.path);
  EXPECT_FALSE(again.used_network);
  EXPECT_EQ(g_hub->connections(), 0);
  auto main_again = mb::hub::fetch_snapshot(id(kTiny), Need::kModel, settings_);
  EXPECT_EQ(main_again.downloaded_files, 0);
  auto reqs = g_hub->requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0]["path"], "/api/models/mbridge-test/tiny-llama/revision/main");
}

TEST_F(HubTest, TagsAndOlderCommitsShareBlobs) {
  auto v1 = mb::hub::fetch_snapshot(id(std::string(kTiny) + "@v1.0"), Need::kModel, settings_);
  auto main = mb::hub::fetch_snapshot(id(kTiny), Need::kModel, settings_);
  EXPECT_NE(v1.commit, main.commit);
  EXPECT_EQ(main.downloaded_files, 2);  // only the tokenizer files are new in main
  EXPECT_FALSE(is_regular_file(v1.path + "/tokenizer.json"));
  EXPECT_EQ(mbtest::read_file(v1.path + "/model-00001-of-00002.safetensors"),
            mbtest::read_file(main.path + "/model-00001-of-00002.safetensors"));
  EXPECT_EQ(mb::hub::RepoCache(cache_, kTiny).commit_for("v1.0"), v1.commit);
}

TEST_F(HubTest, OfflineModeMakesNoConnection) {
  mb::hub::fetch_snapshot(id(kTiny), Need::kModel, settings_);
  g_hub->reset();
  settings_.offline = true;
  auto snap = mb::hub::fetch_snapshot(id(kTiny), Need::kModel, settings_);
  EXPECT_EQ(snap.files.size(), 7u);
  EXPECT_EQ(mb::hub::fetch_snapshot(id(kTiny), Need::kTokenizer, settings_).path, snap.path);
  auto missing = error_of([&] { mb::hub::fetch_snapshot(id("mbridge-test/tiny-llama32"), Need::kModel, settings_); });
  EXPECT_EQ(missing.status(), Status::kNotFound);
  EXPECT_NE(missing.message().find("HF_HUB_OFFLINE"), std::string::npos) << missing.message();
  auto tag = error_of([&] { mb::hub::fetch_snapshot(id(std::string(kTiny) + "@v1.0"), Need::kModel, settings_); });
  EXPECT_NE(tag.message().find("refs/v1.0"), std::string::npos) << tag.message();
  auto file = error_of([&] { mb::hub::fetch_files(id(kTiny), {"README.md"}, settings_); });
  EXPECT_EQ(file.status(), Status::kNotFound);
  EXPECT_EQ(g_hub->connections(), 0);  // the proof: the server saw nothing
}

TEST_F(HubTest, OfflineUsesACacheMadeByHfHubDownloadOfSomeFiles) {
  // transformers fetches config, index and shards one by one: that is a complete model for us too
  mb::hub::fetch_files(id(kTiny),
                       {"config.json", "model.safetensors.index.json", "model-00001-of-00002.safetensors",
                        "model-00002-of-00002.safetensors"},
                       settings_);
  settings_.offline = true;
  auto snap = mb::hub::fetch_snapshot(id(kTiny), Need::kModel, settings_);
  EXPECT_EQ(snap.files.size(), 4u);
  EXPECT_THROW(mb::hub::fetch_snapshot(id(kTiny), Need::kTokenizer, settings_), mb::Error);
}

TEST_F(HubTest, GatedModelsNeedTheToken) {
  const HubId gated = id("mbridge-test/gated-llama");
  auto none = error_of([&] { mb::hub::fetch_snapshot(gated, Need::kModel, settings_); });
  EXPECT_EQ(none.status(), Status::kAccessDenied) << none.message();
  for (const char* part : {"gated", "no token was sent", "request access", "/mbridge-test/gated-llama", "HF_TOKEN",
                           "/settings/tokens", "Please log in"})
    EXPECT_NE(none.message().find(part), std::string::npos) << part << " not in: " << none.message();
  settings_.token = "hf_wrong";
  settings_.token_origin = "HF_TOKEN";
  auto wrong = error_of([&] { mb::hub::fetch_snapshot(gated, Need::kModel, settings_); });
  EXPECT_EQ(wrong.status(), Status::kAccessDenied);
  EXPECT_NE(wrong.message().find("the token from HF_TOKEN was sent, but it has no access"), std::string::npos)
      << wrong.message();
  EXPECT_NE(wrong.message().find("not in the authorized list"), std::string::npos) << wrong.message();
  EXPECT_FALSE(path_exists(cache_ + "/models--mbridge-test--gated-llama/blobs"));  // refused before any transfer

  g_hub->reset();
  settings_.token = kToken;
  auto snap = mb::hub::fetch_snapshot(gated, Need::kModel, settings_);
  EXPECT_EQ(mbtest::read_file(snap.path + "/model-00002-of-00002.safetensors"),
            fixture_file("model-00002-of-00002.safetensors"));
  for (auto& r : g_hub->requests()) {
    if (r["path"].find("/resolve/") != std::string::npos) {
      EXPECT_EQ(r["auth"], std::string("Bearer ") + kToken);
    }
    if (r["path"].find("/_cdn/") != std::string::npos) {  // the storage host is another host: no token there
      EXPECT_EQ(r["auth"], "") << r["path"];
      EXPECT_EQ(r["host"].rfind("localhost:", 0), 0u) << r["host"];
    }
  }
}

TEST_F(HubTest, ADroppedConnectionIsResumed) {
  auto snap = mb::hub::fetch_snapshot(id("mbridge-test/flaky-llama"), Need::kModel, settings_);
  for (const auto& f : kLlama31Files) EXPECT_EQ(mbtest::read_file(snap.path + "/" + f), fixture_file(f)) << f;
  // each large file: one GET cut halfway, then one asking for the rest with a Range from where it stopped
  std::map<std::string, std::vector<std::string>> ranges;
  for (auto& r : g_hub->requests())
    if (r["method"] == "GET" && r["path"].find("/_cdn/") != std::string::npos) ranges[r["path"]].push_back(r["range"]);
  ASSERT_EQ(ranges.size(), 2u);
  for (auto& [path, list] : ranges) {
    const uint64_t size = path.find(sha256_hex(fixture_file("model-00001-of-00002.safetensors"))) != std::string::npos
                              ? 94568
                              : 16504;
    ASSERT_EQ(list.size(), 2u) << path;
    EXPECT_EQ(list[0], "");
    EXPECT_EQ(list[1], "bytes=" + std::to_string(size / 2) + "-") << path;
  }
}

TEST_F(HubTest, ADownloadLeftByAnEarlierRunIsResumed) {
  const std::string shard = fixture_file("model-00001-of-00002.safetensors");
  const std::string sha = sha256_hex(shard);
  mb::hub::RepoCache cache(cache_, kTiny);
  mb::make_directories(cache.folder() + "/blobs");
  mbtest::write_file(cache.blob(sha) + ".incomplete", shard.substr(0, 40000));
  auto snap = mb::hub::fetch_snapshot(id(kTiny), Need::kModel, settings_);
  EXPECT_EQ(mbtest::read_file(snap.path + "/model-00001-of-00002.safetensors"), shard);
  EXPECT_FALSE(path_exists(cache.blob(sha) + ".incomplete"));
  bool resumed = false;
  for (auto& r : g_hub->requests())
    if (r["path"].find(sha) != std::string::npos) resumed = resumed || r["range"] == "bytes=40000-";
  EXPECT_TRUE(resumed);

  // A left-over file with wrong bytes: the finished file fails its sha256, so it is fetched again whole.
  const std::string other = fixture_file("model-00002-of-00002.safetensors");
  mb::hub::RepoCache fresh(mbtest::scratch_dir("fresh"), kTiny);
  settings_.cache_dir = fresh.cache_dir();
  mb::make_directories(fresh.folder() + "/blobs");
  mbtest::write_file(fresh.blob(sha256_hex(other)) + ".incomplete", std::string(5000, 'x'));
  auto again = mb::hub::fetch_snapshot(id(kTiny), Need::kModel, settings_);
  EXPECT_EQ(mbtest::read_file(again.path + "/model-00002-of-00002.safetensors"), other);
}

TEST_F(HubTest, ACorruptBlobIsRejectedAndNotKept) {
  auto e = error_of([&] { mb::hub::fetch_snapshot(id("mbridge-test/corrupt-llama"), Need::kModel, settings_); });
  EXPECT_EQ(e.status(), Status::kFormat);
  EXPECT_NE(e.message().find("sha256"), std::string::npos) << e.message();
  EXPECT_NE(e.message().find("model-00002-of-00002.safetensors"), std::string::npos) << e.message();
  const std::string sha = sha256_hex(fixture_file("model-00002-of-00002.safetensors"));
  mb::hub::RepoCache cache(cache_, "mbridge-test/corrupt-llama");
  EXPECT_FALSE(path_exists(cache.blob(sha)));
  EXPECT_FALSE(path_exists(cache.blob(sha) + ".incomplete"));
  auto commit = cache.commit_for("main");
  ASSERT_TRUE(commit);
  EXPECT_FALSE(path_exists(cache.pointer(*commit, "model-00002-of-00002.safetensors")));
  settings_.offline = true;  // and the cache does not pass it off as a model
  EXPECT_THROW(mb::hub::fetch_snapshot(id("mbridge-test/corrupt-llama"), Need::kModel, settings_), mb::Error);
}

TEST_F(HubTest, NotFoundAnswers) {
  auto repo = error_of([&] { mb::hub::fetch_snapshot(id("mbridge-test/no-such-model"), Need::kModel, settings_); });
  EXPECT_EQ(repo.status(), Status::kNotFound);
  EXPECT_NE(repo.message().find("was not found"), std::string::npos) << repo.message();
  EXPECT_NE(repo.message().find("HF_TOKEN"), std::string::npos) << repo.message();  // private repos look the same
  auto rev = error_of([&] { mb::hub::fetch_snapshot(id(std::string(kTiny) + "@nope"), Need::kModel, settings_); });
  EXPECT_EQ(rev.status(), Status::kNotFound);
  EXPECT_NE(rev.message().find("revision 'nope' does not exist"), std::string::npos) << rev.message();
  auto file = error_of([&] { mb::hub::fetch_files(id(kTiny), {"special_tokens_map.json"}, settings_); });
  EXPECT_EQ(file.status(), Status::kNotFound);
  mb::hub::RepoCache cache(cache_, kTiny);
  EXPECT_TRUE(cache.known_missing(*cache.commit_for("main"), "special_tokens_map.json"));  // as huggingface_hub
  settings_.offline = true;
  auto offline = error_of([&] { mb::hub::fetch_files(id(kTiny), {"special_tokens_map.json"}, settings_); });
  EXPECT_NE(offline.message().find("does not exist"), std::string::npos) << offline.message();
}

TEST_F(HubTest, NetworkFailuresAndTheCacheFallback) {
  mb::hub::fetch_snapshot(id(kTiny), Need::kModel, settings_);
  HubSettings down = settings_;
  down.endpoint = "http://127.0.0.1:9";  // the discard port: nothing listens
  down.retries = 1;
  auto snap = mb::hub::fetch_snapshot(id(kTiny), Need::kModel, down);  // "main" is cached complete: used
  EXPECT_EQ(snap.files.size(), 7u);
  auto e = error_of([&] { mb::hub::fetch_snapshot(id("mbridge-test/tiny-llama32"), Need::kModel, down); });
  EXPECT_EQ(e.status(), Status::kNetwork);
  EXPECT_NE(e.message().find("127.0.0.1:9"), std::string::npos) << e.message();
}

TEST_F(HubTest, ModelDownloadsFetchOnlyWhatIsRead) {
  auto snap = mb::hub::fetch_snapshot(id("mbridge-test/extras-llama"), Need::kModel, settings_);
  EXPECT_EQ(snap.files.size(), 7u);
  for (const char* skipped : {"README.md", ".gitattributes", "pytorch_model.bin", "consolidated.safetensors",
                              "original/consolidated.00.pth"}) {
    EXPECT_EQ(count("HEAD", skipped), 0u) << skipped;
    EXPECT_FALSE(path_exists(snap.path + "/" + skipped)) << skipped;
  }
  auto single = mb::hub::fetch_snapshot(id("mbridge-test/tiny-llama32"), Need::kModel, settings_);
  EXPECT_EQ(mbtest::read_file(single.path + "/model.safetensors"),
            mbtest::read_file(mbtest::fixture("bridge/hf/llama32/model.safetensors")));
  auto config = mb::hub::fetch_snapshot(id("mbridge-test/flaky-llama"), Need::kConfig, settings_);
  EXPECT_EQ(config.files, (std::vector<std::string>{"config.json", "generation_config.json", "tokenizer.json",
                                                    "tokenizer_config.json"}));
  EXPECT_EQ(count("GET", "/_cdn/models--mbridge-test--flaky-llama"), 0u);
}

TEST_F(HubTest, ProgressAndCancellation) {
  std::vector<std::pair<uint64_t, uint64_t>> seen;
  mb::ProgressFn record = [&](const std::string& stage, uint64_t done, uint64_t total) {
    EXPECT_EQ(stage, std::string("download ") + kTiny);
    seen.emplace_back(done, total);
    return true;
  };
  settings_.workers = 3;
  mb::hub::fetch_snapshot(id(kTiny), Need::kModel, settings_, record);
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen.back().first, seen.back().second);
  EXPECT_EQ(seen.back().second, 94568u + 16504 + 836 + 195 + 3928 + 122);  // the index came first, on its own

  settings_.cache_dir = mbtest::scratch_dir("cancelled");
  auto e = error_of([&] {
    mb::hub::fetch_snapshot(id(kTiny), Need::kModel, settings_, [](const std::string&, uint64_t done, uint64_t) {
      return done < 1000;
    });
  });
  EXPECT_EQ(e.status(), Status::kCancelled) << e.message();
}

TEST_F(HubTest, ExistingPathsAreNeverHubIds) {
  const std::string dir = mbtest::scratch_dir("cwd");
  char old[4096];
  ASSERT_TRUE(getcwd(old, sizeof(old)));
  ASSERT_EQ(chdir(dir.c_str()), 0);
  mb::make_directories("mbridge-test/tiny-llama");
  EXPECT_EQ(mb::hub::local_model_path(kTiny, Need::kModel, settings_, {}), kTiny);
  EXPECT_TRUE(mb::hub::is_hub_reference("mbridge-test/tiny-llama32"));
  EXPECT_FALSE(mb::hub::is_hub_reference(kTiny));
  ASSERT_EQ(chdir(old), 0);
  EXPECT_EQ(g_hub->connections(), 0);
  EXPECT_EQ(mb::hub::local_model_path("no/such@x y", Need::kModel, settings_, {}), "no/such@x y");  // not an id
  auto e = error_of([&] { mb::hub::local_model_path("mbridge-test/nothing", Need::kModel, settings_, {}); });
  EXPECT_NE(e.message().find("is not a local file or folder"), std::string::npos) << e.message();
}

// ---- the C ABI takes Hub ids ---------------------------------------------------------------------------------

int count_progress(const char* stage, uint64_t, uint64_t, void* user) {
  if (std::string(stage).rfind("download ", 0) == 0) ++*static_cast<int*>(user);
  return 0;
}

TEST_F(HubTest, CApiOpensHubIds) {
  ScopedEnv env;
  env.set("HF_ENDPOINT", g_hub->endpoint());
  env.set("HF_HUB_CACHE", cache_);
  for (const char* n : {"HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"}) env.unset(n);
  env.set("HF_TOKEN_PATH", cache_ + "/no-token-here");

  mb_bridge_options o = mb_bridge_default_options();
  int calls = 0;
  o.progress = count_progress;
  o.user_data = &calls;
  mb_bridge* bridge = nullptr;
  ASSERT_EQ(mb_bridge_open(&bridge, kTiny, &o), MB_OK) << mb_last_error();
  EXPECT_GT(calls, 0);
  const char* info = nullptr;
  ASSERT_EQ(mb_bridge_info(bridge, &info), MB_OK);
  EXPECT_NE(std::string(info).find("\"family\":\"llama\""), std::string::npos) << info;
  EXPECT_NE(std::string(info).find("models--mbridge-test--tiny-llama/snapshots/"), std::string::npos) << info;
  mb_bridge_free(bridge);

  mb_tokenizer* tok = nullptr;
  ASSERT_EQ(mb_tokenizer_load(&tok, kTiny), MB_OK) << mb_last_error();
  mb_tokenizer_free(tok);
  int supported = 0;
  ASSERT_EQ(mb_can_handle("mbridge-test/tiny-llama32", &supported, nullptr), MB_OK) << mb_last_error();
  EXPECT_EQ(supported, 1);

  // An older, smaller mb_bridge_options (without progress) is still accepted.
  mb_bridge_options old = mb_bridge_default_options();
  old.struct_size = offsetof(mb_bridge_options, progress);
  ASSERT_EQ(mb_bridge_open(&bridge, kTiny, &old), MB_OK) << mb_last_error();
  mb_bridge_free(bridge);

  EXPECT_EQ(mb_bridge_open(&bridge, "mbridge-test/gated-llama", nullptr), MB_ERR_ACCESS_DENIED);
  EXPECT_NE(std::string(mb_last_error()).find("HF_TOKEN"), std::string::npos) << mb_last_error();
  env.set("HF_TOKEN", kToken);
  EXPECT_EQ(mb_bridge_open(&bridge, "mbridge-test/gated-llama", nullptr), MB_OK) << mb_last_error();
  mb_bridge_free(bridge);
  EXPECT_STREQ(mb_status_string(MB_ERR_NETWORK), "network error");
  EXPECT_STREQ(mb_status_string(MB_ERR_ACCESS_DENIED), "access denied");

  g_hub->reset();
  env.set("HF_HUB_OFFLINE", "1");
  mb_checkpoint* ck = nullptr;
  ASSERT_EQ(mb_checkpoint_open(&ck, kTiny, nullptr), MB_OK) << mb_last_error();
  mb_checkpoint_free(ck);
  EXPECT_EQ(mb_bridge_open(&bridge, "mbridge-test/extras-llama", nullptr), MB_ERR_NOT_FOUND);
  EXPECT_EQ(g_hub->connections(), 0);
}

}  // namespace
