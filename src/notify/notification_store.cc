#include "notify/notification_store.h"

#include <fmt/format.h>

#include <mutex>

#include "store/sqlite/sqlite_db.h"

namespace aquawatch {
namespace {

constexpr std::string_view kSubsystem = "notification store";
constexpr int kSchemaVersion = 1;

constexpr std::string_view kSchema = R"sql(
CREATE TABLE IF NOT EXISTS notify_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS notifications (
  id INTEGER PRIMARY KEY,
  alert_id INTEGER NOT NULL,
  resolved INTEGER NOT NULL,
  priority TEXT NOT NULL,
  policy TEXT NOT NULL,
  receiver TEXT NOT NULL,
  channel TEXT NOT NULL,
  url TEXT NOT NULL,
  recipient TEXT NOT NULL,
  routing_key TEXT NOT NULL,
  stage INTEGER NOT NULL,
  repeat INTEGER NOT NULL,
  state TEXT NOT NULL,
  attempts INTEGER NOT NULL,
  created_at_ns INTEGER NOT NULL,
  next_attempt_at_ns INTEGER NOT NULL,
  finished_at_ns INTEGER NOT NULL,
  held_by TEXT NOT NULL,
  last_error TEXT NOT NULL,
  received_ns INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS notifications_by_state ON notifications (state, id);
CREATE INDEX IF NOT EXISTS notifications_by_alert ON notifications (alert_id, id);
CREATE TABLE IF NOT EXISTS notification_attempts (
  notification_id INTEGER NOT NULL REFERENCES notifications (id),
  seq INTEGER NOT NULL,
  at_ns INTEGER NOT NULL,
  duration_ns INTEGER NOT NULL,
  ok INTEGER NOT NULL,
  status INTEGER NOT NULL,
  detail TEXT NOT NULL,
  PRIMARY KEY (notification_id, seq));
CREATE TABLE IF NOT EXISTS notify_pages (
  alert_id INTEGER NOT NULL,
  policy TEXT NOT NULL,
  started_at_ns INTEGER NOT NULL,
  next_stage INTEGER NOT NULL,
  repeats INTEGER NOT NULL,
  next_repeat_at_ns INTEGER NOT NULL,
  PRIMARY KEY (alert_id, policy));
CREATE TABLE IF NOT EXISTS notify_policy (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  document TEXT NOT NULL,
  updated_by TEXT NOT NULL,
  updated_at_ns INTEGER NOT NULL);
)sql";

constexpr std::string_view kColumns =
    "id, alert_id, resolved, priority, policy, receiver, channel, url, recipient, routing_key, "
    "stage, repeat, state, attempts, created_at_ns, next_attempt_at_ns, finished_at_ns, held_by, "
    "last_error, received_ns";

class SqliteNotificationStore final : public NotificationStore {
 public:
  explicit SqliteNotificationStore(std::string path) : path_(std::move(path)) {}
  Status Init();

  Status Apply(const NotifyChanges& c) override {
    std::lock_guard lock(mu_);
    return transactions_.Run(db(), kSubsystem, [&] {
      for (std::uint64_t alert_id : c.ended_pages) {
        SqliteRun r(delete_pages_);
        r.Int(1, static_cast<std::int64_t>(alert_id));
        if (Status s = Done(SqliteStepAll(r), "deleting pages"); !s.ok()) return s;
      }
      for (const Page& p : c.pages) {
        SqliteRun r(put_page_);
        r.Int(1, static_cast<std::int64_t>(p.alert_id))
            .Text(2, p.policy)
            .Int(3, p.started_at_ns)
            .Int(4, p.next_stage)
            .Int(5, p.repeats)
            .Int(6, p.next_repeat_at_ns);
        if (Status s = Done(SqliteStepAll(r), "storing a page"); !s.ok()) return s;
      }
      for (const NotificationRecord& r : c.records) {
        if (Status s = Upsert(r); !s.ok()) return s;
      }
      return Status::Ok();
    });
  }

  Status PutAttempt(const NotificationAttempt& a, const NotificationRecord& record) override {
    std::lock_guard lock(mu_);
    return transactions_.Run(db(), kSubsystem, [&] {
      if (Status s = Upsert(record); !s.ok()) return s;
      SqliteRun r(insert_attempt_);
      r.Int(1, static_cast<std::int64_t>(a.notification_id))
          .Int(2, a.seq)
          .Int(3, a.at_ns)
          .Int(4, a.duration_ns)
          .Int(5, a.ok ? 1 : 0)
          .Int(6, a.status)
          .Text(7, a.detail);
      return Done(SqliteStepAll(r), "recording an attempt");
    });
  }

  Result<std::vector<NotificationRecord>> Query(const NotificationQuery& q) const override {
    std::string sql = fmt::format("SELECT {} FROM notifications WHERE 1", kColumns);
    std::vector<std::string> texts;
    if (!q.states.empty()) {
      sql += " AND state IN (";
      for (std::size_t i = 0; i < q.states.size(); ++i) {
        sql += i ? ", ?" : "?";
        texts.emplace_back(NotificationStateName(q.states[i]));
      }
      sql += ")";
    }
    if (!q.channel.empty()) {
      sql += " AND channel = ?";
      texts.push_back(q.channel);
    }
    if (!q.receiver.empty()) {
      sql += " AND receiver = ?";
      texts.push_back(q.receiver);
    }
    if (q.alert_id != 0) sql += fmt::format(" AND alert_id = {}", q.alert_id);
    if (q.before_id != 0) sql += fmt::format(" AND id < {}", q.before_id);
    sql += fmt::format(" ORDER BY id DESC LIMIT {}", q.limit);
    std::lock_guard lock(mu_);
    SqliteStmt stmt;
    if (Status s = stmt.Prepare(db(), sql); !s.ok()) return s;
    SqliteRun r(stmt);
    for (std::size_t i = 0; i < texts.size(); ++i) r.Text(static_cast<int>(i) + 1, texts[i]);
    return ReadRecords(r);
  }

  Result<std::optional<NotificationRecord>> Get(std::uint64_t id) const override {
    std::lock_guard lock(mu_);
    SqliteRun r(get_);
    r.Int(1, static_cast<std::int64_t>(id));
    auto rows = ReadRecords(r);
    if (!rows.ok()) return rows.status();
    if (rows->empty()) return std::optional<NotificationRecord>();
    return std::optional<NotificationRecord>(std::move(rows->front()));
  }

  Result<std::vector<NotificationAttempt>> Attempts(std::uint64_t id) const override {
    std::lock_guard lock(mu_);
    SqliteRun r(attempts_);
    r.Int(1, static_cast<std::int64_t>(id));
    std::vector<NotificationAttempt> out;
    int rc;
    while ((rc = r.Step()) == SQLITE_ROW) {
      NotificationAttempt a;
      a.notification_id = id;
      a.seq = static_cast<std::uint32_t>(r.ColInt(0));
      a.at_ns = r.ColInt(1);
      a.duration_ns = r.ColInt(2);
      a.ok = r.ColInt(3) != 0;
      a.status = static_cast<int>(r.ColInt(4));
      a.detail = r.ColText(5);
      out.push_back(std::move(a));
    }
    if (Status s = Done(rc, "reading attempts"); !s.ok()) return s;
    return out;
  }

  Result<std::vector<NotificationRecord>> LoadPending() const override {
    std::lock_guard lock(mu_);
    SqliteRun r(pending_);
    return ReadRecords(r);
  }

  Result<std::uint64_t> MaxId() const override {
    std::lock_guard lock(mu_);
    SqliteRun r(max_id_);
    if (int rc = r.Step(); rc != SQLITE_ROW) return Done(rc, "reading the highest id");
    return static_cast<std::uint64_t>(r.ColInt(0));
  }

  Result<std::vector<Page>> LoadPages() const override {
    std::lock_guard lock(mu_);
    SqliteRun r(pages_);
    std::vector<Page> out;
    int rc;
    while ((rc = r.Step()) == SQLITE_ROW) {
      Page p;
      p.alert_id = static_cast<std::uint64_t>(r.ColInt(0));
      p.policy = r.ColText(1);
      p.started_at_ns = r.ColInt(2);
      p.next_stage = static_cast<std::uint32_t>(r.ColInt(3));
      p.repeats = static_cast<std::uint32_t>(r.ColInt(4));
      p.next_repeat_at_ns = r.ColInt(5);
      out.push_back(std::move(p));
    }
    if (Status s = Done(rc, "reading pages"); !s.ok()) return s;
    return out;
  }

  Result<std::optional<std::string>> LoadPolicy() const override {
    std::lock_guard lock(mu_);
    SqliteRun r(get_policy_);
    int rc = r.Step();
    if (rc == SQLITE_DONE) return std::optional<std::string>();
    if (rc != SQLITE_ROW) return Done(rc, "reading the policy");
    return std::optional<std::string>(r.ColText(0));
  }

  Status SavePolicy(const std::optional<std::string>& json, std::string_view by,
                    std::int64_t at_ns) override {
    std::lock_guard lock(mu_);
    if (!json) {
      SqliteRun r(delete_policy_);
      return Done(SqliteStepAll(r), "deleting the policy");
    }
    SqliteRun r(put_policy_);
    r.Text(1, *json).Text(2, by).Int(3, at_ns);
    return Done(SqliteStepAll(r), "storing the policy");
  }

 private:
  sqlite3* db() const { return db_.get(); }

  Status Done(int rc, std::string_view context) const {
    return rc == SQLITE_DONE ? Status::Ok() : SqliteStatus(db(), rc, kSubsystem, context);
  }

  // REQUIRES: mu_ held.
  Status Upsert(const NotificationRecord& n) {
    SqliteRun r(upsert_);
    const std::string_view channel = ChannelName(n.target.channel);
    r.Int(1, static_cast<std::int64_t>(n.id))
        .Int(2, static_cast<std::int64_t>(n.alert_id))
        .Int(3, n.resolved ? 1 : 0)
        .Text(4, PriorityName(n.priority))
        .Text(5, n.policy)
        .Text(6, n.receiver)
        .Text(7, channel)
        .Text(8, n.target.url)
        .Text(9, n.target.to)
        .Text(10, n.target.routing_key)
        .Int(11, n.stage)
        .Int(12, n.repeat)
        .Text(13, NotificationStateName(n.state))
        .Int(14, n.attempts)
        .Int(15, n.created_at_ns)
        .Int(16, n.next_attempt_at_ns)
        .Int(17, n.finished_at_ns)
        .Text(18, n.held_by)
        .Text(19, n.last_error)
        .Int(20, n.received_ns);
    return Done(SqliteStepAll(r), "storing a notification");
  }

  Result<std::vector<NotificationRecord>> ReadRecords(SqliteRun& r) const {
    std::vector<NotificationRecord> out;
    int rc;
    while ((rc = r.Step()) == SQLITE_ROW) {
      NotificationRecord n;
      n.id = static_cast<std::uint64_t>(r.ColInt(0));
      n.alert_id = static_cast<std::uint64_t>(r.ColInt(1));
      n.resolved = r.ColInt(2) != 0;
      n.priority = ParsePriority(r.ColText(3)).value_or(AlertPriority::kMedium);
      n.policy = r.ColText(4);
      n.receiver = r.ColText(5);
      std::optional<ChannelKind> channel = ParseChannel(r.ColText(6));
      if (!channel) {
        return Status::Corruption(fmt::format("{}: notification {} has unknown channel \"{}\"",
                                              kSubsystem, n.id, r.ColText(6)));
      }
      n.target.channel = *channel;
      n.target.url = r.ColText(7);
      n.target.to = r.ColText(8);
      n.target.routing_key = r.ColText(9);
      n.stage = static_cast<std::uint32_t>(r.ColInt(10));
      n.repeat = static_cast<std::uint32_t>(r.ColInt(11));
      n.state = ParseNotificationState(r.ColText(12)).value_or(NotificationState::kPending);
      n.attempts = static_cast<std::uint32_t>(r.ColInt(13));
      n.created_at_ns = r.ColInt(14);
      n.next_attempt_at_ns = r.ColInt(15);
      n.finished_at_ns = r.ColInt(16);
      n.held_by = r.ColText(17);
      n.last_error = r.ColText(18);
      n.received_ns = r.ColInt(19);
      out.push_back(std::move(n));
    }
    if (Status s = Done(rc, "reading notifications"); !s.ok()) return s;
    return out;
  }

  Status CheckSchema() {
    char* err = nullptr;
    int rc = sqlite3_exec(db(), std::string(kSchema).c_str(), nullptr, nullptr, &err);
    std::string message = err ? err : "";
    sqlite3_free(err);
    if (rc != SQLITE_OK) return SqliteStatus(db(), rc, kSubsystem, "creating the schema");
    SqliteStmt get, put;
    if (Status s = get.Prepare(db(), "SELECT value FROM notify_meta WHERE key = 'schema'");
        !s.ok()) {
      return s;
    }
    SqliteRun r(get);
    rc = r.Step();
    if (rc == SQLITE_ROW) {
      if (r.ColText(0) != std::to_string(kSchemaVersion)) {
        return Status::Corruption(
            fmt::format("{}: {} has schema version {}, this build reads version {}", kSubsystem,
                        path_, r.ColText(0), kSchemaVersion));
      }
      return Status::Ok();
    }
    if (rc != SQLITE_DONE) return Done(rc, "reading the schema version");
    if (Status s = put.Prepare(db(), "INSERT INTO notify_meta (key, value) VALUES ('schema', ?1)");
        !s.ok()) {
      return s;
    }
    const std::string version = std::to_string(kSchemaVersion);  // outlives the run
    SqliteRun w(put);
    w.Text(1, version);
    return Done(SqliteStepAll(w), "writing the schema version");
  }

  const std::string path_;
  mutable std::mutex mu_;
  SqliteHandle db_;  // GUARDED_BY(mu_), as is every statement below
  SqliteTransactions transactions_;
  SqliteStmt upsert_, insert_attempt_, get_, attempts_, pending_, max_id_;
  SqliteStmt put_page_, delete_pages_, pages_, get_policy_, put_policy_, delete_policy_;
};

Status SqliteNotificationStore::Init() {
  std::lock_guard lock(mu_);
  auto opened = OpenSqlite(path_, {.subsystem = kSubsystem, .sync_every_commit = false});
  if (!opened.ok()) return opened.status();
  db_ = std::move(opened).value();
  if (Status s = transactions_.Prepare(db()); !s.ok()) return s;
  if (Status s = transactions_.Run(db(), kSubsystem, [&] { return CheckSchema(); }); !s.ok()) {
    return s;
  }
  std::string placeholders;
  for (int i = 1; i <= 20; ++i) placeholders += fmt::format("{}?{}", i > 1 ? ", " : "", i);
  const std::string upsert = fmt::format(
      "INSERT INTO notifications ({}) VALUES ({}) ON CONFLICT (id) DO UPDATE SET "
      "state = excluded.state, attempts = excluded.attempts, "
      "next_attempt_at_ns = excluded.next_attempt_at_ns, finished_at_ns = excluded.finished_at_ns, "
      "held_by = excluded.held_by, last_error = excluded.last_error",
      kColumns, placeholders);
  const std::string get = fmt::format("SELECT {} FROM notifications WHERE id = ?1", kColumns);
  const std::string pending =
      fmt::format("SELECT {} FROM notifications WHERE state = 'pending' ORDER BY id", kColumns);
  const std::pair<SqliteStmt*, std::string> statements[] = {
      {&upsert_, upsert},
      {&insert_attempt_,
       "INSERT INTO notification_attempts (notification_id, seq, at_ns, duration_ns, ok, status, "
       "detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO NOTHING"},
      {&get_, get},
      {&attempts_,
       "SELECT seq, at_ns, duration_ns, ok, status, detail FROM notification_attempts "
       "WHERE notification_id = ?1 ORDER BY seq"},
      {&pending_, pending},
      {&max_id_, "SELECT COALESCE(MAX(id), 0) FROM notifications"},
      {&put_page_,
       "INSERT INTO notify_pages (alert_id, policy, started_at_ns, next_stage, repeats, "
       "next_repeat_at_ns) VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (alert_id, policy) DO "
       "UPDATE SET started_at_ns = excluded.started_at_ns, next_stage = excluded.next_stage, "
       "repeats = excluded.repeats, next_repeat_at_ns = excluded.next_repeat_at_ns"},
      {&delete_pages_, "DELETE FROM notify_pages WHERE alert_id = ?1"},
      {&pages_,
       "SELECT alert_id, policy, started_at_ns, next_stage, repeats, next_repeat_at_ns FROM "
       "notify_pages ORDER BY alert_id, policy"},
      {&get_policy_, "SELECT document FROM notify_policy WHERE id = 1"},
      {&put_policy_,
       "INSERT INTO notify_policy (id, document, updated_by, updated_at_ns) VALUES (1, ?1, ?2, "
       "?3) ON CONFLICT (id) DO UPDATE SET document = excluded.document, updated_by = "
       "excluded.updated_by, updated_at_ns = excluded.updated_at_ns"},
      {&delete_policy_, "DELETE FROM notify_policy"},
  };
  for (const auto& [stmt, sql] : statements) {
    if (Status s = stmt->Prepare(db(), sql); !s.ok()) return s;
  }
  return Status::Ok();
}

}  // namespace

std::string_view NotificationStateName(NotificationState s) {
  switch (s) {
    case NotificationState::kPending:
      return "pending";
    case NotificationState::kDelivered:
      return "delivered";
    case NotificationState::kFailed:
      return "failed";
    case NotificationState::kCancelled:
      return "cancelled";
  }
  return "pending";
}

std::optional<NotificationState> ParseNotificationState(std::string_view name) {
  for (auto s : {NotificationState::kPending, NotificationState::kDelivered,
                 NotificationState::kFailed, NotificationState::kCancelled}) {
    if (NotificationStateName(s) == name) return s;
  }
  return std::nullopt;
}

Result<std::unique_ptr<NotificationStore>> OpenNotificationStore(const std::string& path) {
  auto store = std::make_unique<SqliteNotificationStore>(path);
  if (Status s = store->Init(); !s.ok()) return s;
  return std::unique_ptr<NotificationStore>(std::move(store));
}

}  // namespace aquawatch
