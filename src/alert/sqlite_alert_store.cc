#include "alert/sqlite_alert_store.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <charconv>
#include <mutex>

#include "store/sqlite/sqlite_db.h"

namespace aquawatch {
namespace {

// Schema version 1, exactly as docs/format/alerts.md describes it.
constexpr const char* kSchemaV1 = R"sql(
CREATE TABLE alert_meta (
  key   TEXT PRIMARY KEY NOT NULL,
  value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE alerts (
  id              INTEGER PRIMARY KEY CHECK (id > 0),
  sensor          TEXT NOT NULL,
  site            TEXT NOT NULL,
  zone            TEXT NOT NULL,
  kind            TEXT NOT NULL,
  parameter       TEXT NOT NULL,
  classification  TEXT NOT NULL,
  level           TEXT NOT NULL,
  priority        TEXT NOT NULL CHECK (priority = 'high' OR priority = 'medium' OR priority = 'low'),
  state           TEXT NOT NULL
                  CHECK (state = 'open' OR state = 'acknowledged' OR state = 'resolved'),
  active          INTEGER NOT NULL CHECK (active = 0 OR active = 1),
  value           REAL NOT NULL,
  threshold       REAL NOT NULL,
  reading_time_ns INTEGER NOT NULL,
  received_ns     INTEGER NOT NULL,
  opened_ns       INTEGER NOT NULL,
  cleared_ns      INTEGER NOT NULL,
  cleared_at_ns   INTEGER NOT NULL,
  resolved_ns     INTEGER NOT NULL,
  resolved_at_ns  INTEGER NOT NULL,
  resolved_by     TEXT NOT NULL,
  acked_by        TEXT NOT NULL,
  ack_comment     TEXT NOT NULL,
  acked_at_ns     INTEGER NOT NULL,
  reopened        INTEGER NOT NULL,
  updated_at_ns   INTEGER NOT NULL,
  history_size    INTEGER NOT NULL,
  message         TEXT NOT NULL,
  suppressed_by   TEXT NOT NULL
);
-- A starting manager reads the live alerts; most stored ones are long resolved.
CREATE INDEX alerts_live ON alerts (id) WHERE state != 'resolved' OR active = 1;
CREATE INDEX alerts_resolved_at ON alerts (resolved_at_ns) WHERE state = 'resolved';
CREATE INDEX alerts_sensor ON alerts (sensor, id);

CREATE TABLE alert_history (
  alert_id INTEGER NOT NULL REFERENCES alerts (id),
  seq      INTEGER NOT NULL CHECK (seq >= 0),
  at_ns    INTEGER NOT NULL,
  action   TEXT NOT NULL,
  actor    TEXT NOT NULL,
  detail   TEXT NOT NULL,
  PRIMARY KEY (alert_id, seq)
) WITHOUT ROWID;

CREATE TABLE silences (
  id            INTEGER PRIMARY KEY CHECK (id > 0),
  sensor        TEXT NOT NULL,
  site          TEXT NOT NULL,
  zone          TEXT NOT NULL,
  kind          TEXT NOT NULL,
  priority      TEXT NOT NULL
                CHECK (priority = '' OR priority = 'high' OR priority = 'medium' OR priority = 'low'),
  starts_at_ns  INTEGER NOT NULL,
  ends_at_ns    INTEGER NOT NULL CHECK (ends_at_ns > starts_at_ns),
  created_by    TEXT NOT NULL,
  comment       TEXT NOT NULL,
  created_at_ns INTEGER NOT NULL,
  expired_by    TEXT NOT NULL
);
CREATE INDEX silences_ends ON silences (ends_at_ns);
)sql";

constexpr const char* kSilenceColumns =
    "id, sensor, site, zone, kind, priority, starts_at_ns, ends_at_ns, created_by, comment, "
    "created_at_ns, expired_by";

constexpr const char* kColumns =
    "id, sensor, site, zone, kind, parameter, classification, level, priority, state, active, "
    "value, threshold, reading_time_ns, received_ns, opened_ns, cleared_ns, cleared_at_ns, "
    "resolved_ns, resolved_at_ns, resolved_by, acked_by, ack_comment, acked_at_ns, reopened, "
    "updated_at_ns, history_size, message, suppressed_by";

std::optional<Level> ParseLevel(std::string_view name) {
  for (Level l : {Level::kNormal, Level::kWarnLow, Level::kWarnHigh, Level::kCriticalLow,
                  Level::kCriticalHigh}) {
    if (LevelName(l) == name) return l;
  }
  return std::nullopt;
}

constexpr int kColumnCount = 29;

// Binds the kColumns of `a` as ?1 ... ?29.
void BindAlert(SqliteRun& r, const Alert& a) {
  r.Int(1, static_cast<std::int64_t>(a.id))
      .Text(2, a.sensor)
      .Text(3, a.site)
      .Text(4, a.zone)
      .Text(5, a.kind)
      .Text(6, a.parameter)
      .Text(7, a.classification)
      .Text(8, LevelName(a.level))
      .Text(9, PriorityName(a.priority))
      .Text(10, AlertStateName(a.state))
      .Int(11, a.active ? 1 : 0)
      .Real(12, a.value)
      .Real(13, a.threshold)
      .Int(14, a.reading_time_ns)
      .Int(15, a.received_ns)
      .Int(16, a.opened_ns)
      .Int(17, a.cleared_ns)
      .Int(18, a.cleared_at_ns)
      .Int(19, a.resolved_ns)
      .Int(20, a.resolved_at_ns)
      .Text(21, a.resolved_by)
      .Text(22, a.acked_by)
      .Text(23, a.ack_comment)
      .Int(24, a.acked_at_ns)
      .Int(25, a.reopened)
      .Int(26, a.updated_at_ns)
      .Int(27, a.history_size)
      .Text(28, a.message)
      .Text(29, a.suppressed_by);
}

Status ReadAlert(const SqliteRun& r, Alert& a) {
  a.id = static_cast<std::uint64_t>(r.ColInt(0));
  a.sensor = r.ColText(1);
  a.site = r.ColText(2);
  a.zone = r.ColText(3);
  a.kind = r.ColText(4);
  a.parameter = r.ColText(5);
  a.classification = r.ColText(6);
  auto level = ParseLevel(r.ColText(7));
  auto priority = ParsePriority(r.ColText(8));
  auto state = ParseAlertState(r.ColText(9));
  if (!level || !priority || !state) {
    return Status::Corruption(
        fmt::format("alert store: alert {}: level '{}', priority '{}' or state '{}' is unknown",
                    a.id, r.ColText(7), r.ColText(8), r.ColText(9)));
  }
  a.level = *level;
  a.priority = *priority;
  a.state = *state;
  a.active = r.ColInt(10) != 0;
  a.value = r.ColReal(11).value_or(0);
  a.threshold = r.ColReal(12).value_or(0);
  a.reading_time_ns = r.ColInt(13);
  a.received_ns = r.ColInt(14);
  a.opened_ns = r.ColInt(15);
  a.cleared_ns = r.ColInt(16);
  a.cleared_at_ns = r.ColInt(17);
  a.resolved_ns = r.ColInt(18);
  a.resolved_at_ns = r.ColInt(19);
  a.resolved_by = r.ColText(20);
  a.acked_by = r.ColText(21);
  a.ack_comment = r.ColText(22);
  a.acked_at_ns = r.ColInt(23);
  a.reopened = static_cast<std::uint32_t>(r.ColInt(24));
  a.updated_at_ns = r.ColInt(25);
  a.history_size = static_cast<std::uint32_t>(r.ColInt(26));
  a.message = r.ColText(27);
  a.suppressed_by = r.ColText(28);
  return Status::Ok();
}

Status ReadSilence(const SqliteRun& r, Silence& s) {
  s.id = static_cast<std::uint64_t>(r.ColInt(0));
  s.sensor = r.ColText(1);
  s.site = r.ColText(2);
  s.zone = r.ColText(3);
  s.kind = r.ColText(4);
  const std::string priority = r.ColText(5);
  if (!priority.empty()) {
    s.priority = ParsePriority(priority);
    if (!s.priority) {
      return Status::Corruption(
          fmt::format("alert store: silence {}: priority '{}' is unknown", s.id, priority));
    }
  }
  s.starts_at_ns = r.ColInt(6);
  s.ends_at_ns = r.ColInt(7);
  s.created_by = r.ColText(8);
  s.comment = r.ColText(9);
  s.created_at_ns = r.ColInt(10);
  s.expired_by = r.ColText(11);
  return Status::Ok();
}

class SqliteAlertStore final : public AlertStore {
 public:
  explicit SqliteAlertStore(std::string path) : path_(std::move(path)) {}

  Status Init();

  Result<LiveAlerts> LoadLive(std::int64_t resolved_since_ns) const override;
  Status Write(const std::vector<AlertChange>& changes) override;
  Result<std::vector<Alert>> List(const AlertQuery& query) const override;
  Result<std::optional<Alert>> Get(std::uint64_t id) const override;
  Result<std::vector<AlertHistoryEntry>> History(std::uint64_t id) const override;
  Status PutSilence(const Silence& silence) override;
  Result<std::vector<Silence>> ListSilences(std::size_t limit) const override;
  Result<std::vector<Silence>> LoadSilences(std::int64_t now_ns,
                                            std::uint64_t* max_id) const override;

 private:
  sqlite3* db() const { return db_.get(); }
  Status Error(int rc, std::string_view context) const {
    return SqliteStatus(db(), rc, "alert store", fmt::format("{}: {}", path_, context));
  }
  Status Exec(SqliteRun& r, std::string_view context) const {
    const int rc = SqliteStepAll(r);
    return rc == SQLITE_DONE ? Status::Ok() : Error(rc, context);
  }
  Status ExecSql(const char* sql, std::string_view context) const {
    int rc = sqlite3_exec(db(), sql, nullptr, nullptr, nullptr);
    return rc == SQLITE_OK ? Status::Ok() : Error(rc, context);
  }
  // Reads every row of a statement into `out` with `read_row` (ReadAlert over kColumns,
  // ReadSilence over kSilenceColumns). REQUIRES: mu_ held.
  template <typename Row, typename ReadRow>
  Status ReadRows(SqliteRun& r, ReadRow read_row, std::vector<Row>& out) const;
  // REQUIRES: mu_ held.
  template <typename Body>
  Status InTransaction(Body&& body);
  Status CreateOrCheckSchema();

  const std::string path_;
  mutable std::mutex mu_;
  SqliteHandle db_;  // GUARDED_BY(mu_), as is every statement below
  SqliteTransactions transactions_;
  SqliteStmt upsert_alert_, insert_history_, get_alert_, history_, live_, max_id_;
  SqliteStmt upsert_silence_, list_silences_, live_silences_, max_silence_id_;
};

template <typename Body>
Status SqliteAlertStore::InTransaction(Body&& body) {
  return transactions_.Run(db(), "alert store", std::forward<Body>(body));
}

Status SqliteAlertStore::Init() {
  std::lock_guard lock(mu_);
  auto opened = OpenSqlite(path_, {.subsystem = "alert store", .sync_every_commit = true});
  if (!opened.ok()) return opened.status();
  db_ = std::move(opened).value();
  if (Status s = ExecSql("PRAGMA foreign_keys = ON", "PRAGMA foreign_keys"); !s.ok()) return s;
  if (Status s = transactions_.Prepare(db()); !s.ok()) return s;
  if (Status s = InTransaction([&] { return CreateOrCheckSchema(); }); !s.ok()) return s;

  std::string placeholders;
  for (int i = 1; i <= kColumnCount; ++i)
    placeholders += fmt::format("{}?{}", i > 1 ? ", " : "", i);
  // An upsert, not INSERT OR REPLACE: a replace deletes the row first, which the history's
  // foreign key forbids.
  std::string updates;
  for (std::string_view rest = kColumns; !rest.empty();) {
    const std::size_t comma = rest.find(", ");
    const std::string_view column = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 2);
    if (column == "id") continue;
    updates += fmt::format("{}{} = excluded.{}", updates.empty() ? "" : ", ", column, column);
  }
  const std::string upsert =
      fmt::format("INSERT INTO alerts ({}) VALUES ({}) ON CONFLICT (id) DO UPDATE SET {}", kColumns,
                  placeholders, updates);
  const std::string get = fmt::format("SELECT {} FROM alerts WHERE id = ?1", kColumns);
  const std::string live = fmt::format(
      "SELECT {} FROM alerts WHERE state != 'resolved' OR active = 1 UNION "
      "SELECT {} FROM alerts WHERE state = 'resolved' AND resolved_at_ns >= ?1 ORDER BY id",
      kColumns, kColumns);
  const std::string upsert_silence = fmt::format(
      "INSERT INTO silences ({}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) "
      "ON CONFLICT (id) DO UPDATE SET starts_at_ns = excluded.starts_at_ns, ends_at_ns = "
      "excluded.ends_at_ns, "
      "expired_by = excluded.expired_by, comment = excluded.comment",
      kSilenceColumns);
  const std::string list_silences =
      fmt::format("SELECT {} FROM silences ORDER BY id DESC LIMIT ?1", kSilenceColumns);
  const std::string live_silences =
      fmt::format("SELECT {} FROM silences WHERE ends_at_ns > ?1 ORDER BY id", kSilenceColumns);
  const std::pair<SqliteStmt*, std::string_view> statements[] = {
      {&upsert_alert_, upsert},
      {&insert_history_,
       // A retried batch may repeat entries a failed COMMIT did keep: they are the same.
       "INSERT INTO alert_history (alert_id, seq, at_ns, action, actor, detail) "
       "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (alert_id, seq) DO NOTHING"},
      {&get_alert_, get},
      {&history_,
       "SELECT seq, at_ns, action, actor, detail FROM alert_history WHERE alert_id = ?1 "
       "ORDER BY seq"},
      {&live_, live},
      {&max_id_, "SELECT COALESCE(MAX(id), 0) FROM alerts"},
      {&upsert_silence_, upsert_silence},
      {&list_silences_, list_silences},
      {&live_silences_, live_silences},
      {&max_silence_id_, "SELECT COALESCE(MAX(id), 0) FROM silences"},
  };
  for (const auto& [stmt, sql] : statements) {
    if (Status s = stmt->Prepare(db(), sql); !s.ok()) return s;
  }
  return Status::Ok();
}

Status SqliteAlertStore::CreateOrCheckSchema() {
  SqliteStmt count;
  if (Status s = count.Prepare(db(),
                               "SELECT count(*), count(*) FILTER (WHERE name = "
                               "'alert_meta') FROM sqlite_master WHERE type = 'table'");
      !s.ok()) {
    return s;
  }
  SqliteRun r(count);
  if (int rc = r.Step(); rc != SQLITE_ROW) return Error(rc, "reading the schema");
  const std::int64_t tables = r.ColInt(0), has_meta = r.ColInt(1);
  if (has_meta == 0) {
    if (tables != 0) {
      return Status::Corruption(fmt::format(
          "alert store {}: not an aquawatch alert store (it has tables but no 'alert_meta')",
          path_));
    }
    if (Status s = ExecSql(kSchemaV1, "creating the schema"); !s.ok()) return s;
    const std::string insert = fmt::format(
        "INSERT INTO alert_meta (key, value) VALUES ('schema_version', '{}')", kAlertSchemaVersion);
    if (Status s = ExecSql(insert.c_str(), "writing schema_version"); !s.ok()) return s;
    if (path_ != ":memory:") {
      spdlog::info("alert store {}: created (schema version {})", path_, kAlertSchemaVersion);
    }
    return Status::Ok();
  }
  SqliteStmt st;
  if (Status s = st.Prepare(db(), "SELECT value FROM alert_meta WHERE key = 'schema_version'");
      !s.ok()) {
    return s;
  }
  SqliteRun v(st);
  int rc = v.Step();
  if (rc != SQLITE_ROW) {
    if (rc == SQLITE_DONE) {
      return Status::Corruption(fmt::format("alert store {}: no schema_version", path_));
    }
    return Error(rc, "reading schema_version");
  }
  const std::string text = v.ColText(0);
  int version = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), version);
  if (ec != std::errc() || end != text.data() + text.size() || version < 1) {
    return Status::Corruption(
        fmt::format("alert store {}: schema_version '{}' is not a positive integer", path_, text));
  }
  if (version > kAlertSchemaVersion) {
    return Status::InvalidArgument(fmt::format(
        "alert store {} has schema version {}; this build of aquawatch reads version {} only: "
        "upgrade aquawatch or use another data directory",
        path_, version, kAlertSchemaVersion));
  }
  return Status::Ok();
}

template <typename Row, typename ReadRow>
Status SqliteAlertStore::ReadRows(SqliteRun& r, ReadRow read_row, std::vector<Row>& out) const {
  int rc;
  while ((rc = r.Step()) == SQLITE_ROW) {
    Row row;
    if (Status s = read_row(r, row); !s.ok()) return s;
    out.push_back(std::move(row));
  }
  return rc == SQLITE_DONE ? Status::Ok() : Error(rc, "reading rows");
}

Result<LiveAlerts> SqliteAlertStore::LoadLive(std::int64_t resolved_since_ns) const {
  std::lock_guard lock(mu_);
  LiveAlerts live;
  {
    SqliteRun r(live_);
    r.Int(1, resolved_since_ns);
    if (Status s = ReadRows(r, ReadAlert, live.alerts); !s.ok()) return s;
  }
  SqliteRun r(max_id_);
  if (int rc = r.Step(); rc != SQLITE_ROW) return Error(rc, "reading the highest id");
  live.max_id = static_cast<std::uint64_t>(r.ColInt(0));
  return live;
}

Status SqliteAlertStore::Write(const std::vector<AlertChange>& changes) {
  if (changes.empty()) return Status::Ok();
  std::lock_guard lock(mu_);
  return InTransaction([&]() -> Status {
    for (const AlertChange& c : changes) {
      {
        SqliteRun r(upsert_alert_);
        BindAlert(r, c.alert);
        if (Status s = Exec(r, fmt::format("writing alert {}", c.alert.id)); !s.ok()) return s;
      }
      SqliteRun r(insert_history_);
      r.Int(1, static_cast<std::int64_t>(c.alert.id))
          .Int(2, c.entry.seq)
          .Int(3, c.entry.at_ns)
          .Text(4, c.entry.action)
          .Text(5, c.entry.actor)
          .Text(6, c.entry.detail);
      if (Status s =
              Exec(r, fmt::format("writing history {} of alert {}", c.entry.seq, c.alert.id));
          !s.ok()) {
        return s;
      }
    }
    return Status::Ok();
  });
}

Result<std::vector<Alert>> SqliteAlertStore::List(const AlertQuery& q) const {
  // Built per call: the filters vary, and listing is rare next to writing.
  std::string sql =
      fmt::format("SELECT {} FROM alerts WHERE opened_ns >= ?1 AND opened_ns < ?2", kColumns);
  if (q.before_id != 0) sql += " AND id < ?3";
  if (!q.states.empty()) {
    sql += " AND (";
    for (std::size_t i = 0; i < q.states.size(); ++i) {
      sql += fmt::format("{}state = '{}'", i > 0 ? " OR " : "", AlertStateName(q.states[i]));
    }
    sql += ")";
  }
  if (q.priority) sql += " AND priority = ?4";
  if (!q.kind.empty()) sql += " AND kind = ?5";
  if (!q.zone.empty()) sql += " AND zone = ?6";
  if (!q.site.empty()) sql += " AND site = ?7";
  if (!q.sensor.empty()) sql += " AND sensor = ?8";
  sql += " ORDER BY id DESC LIMIT ?9";
  std::lock_guard lock(mu_);
  SqliteStmt st;
  if (Status s = st.Prepare(db(), sql); !s.ok()) return s;
  SqliteRun r(st);
  r.Int(1, q.opened_from_ns).Int(2, q.opened_to_ns);
  if (q.before_id != 0) r.Int(3, static_cast<std::int64_t>(q.before_id));
  if (q.priority) r.Text(4, PriorityName(*q.priority));
  if (!q.kind.empty()) r.Text(5, q.kind);
  if (!q.zone.empty()) r.Text(6, q.zone);
  if (!q.site.empty()) r.Text(7, q.site);
  if (!q.sensor.empty()) r.Text(8, q.sensor);
  r.Int(9, static_cast<std::int64_t>(q.limit));
  std::vector<Alert> out;
  if (Status s = ReadRows(r, ReadAlert, out); !s.ok()) return s;
  return out;
}

Result<std::optional<Alert>> SqliteAlertStore::Get(std::uint64_t id) const {
  std::lock_guard lock(mu_);
  SqliteRun r(get_alert_);
  r.Int(1, static_cast<std::int64_t>(id));
  std::vector<Alert> out;
  if (Status s = ReadRows(r, ReadAlert, out); !s.ok()) return s;
  if (out.empty()) return std::optional<Alert>();
  return std::optional<Alert>(std::move(out.front()));
}

Result<std::vector<AlertHistoryEntry>> SqliteAlertStore::History(std::uint64_t id) const {
  std::lock_guard lock(mu_);
  SqliteRun r(history_);
  r.Int(1, static_cast<std::int64_t>(id));
  std::vector<AlertHistoryEntry> out;
  int rc;
  while ((rc = r.Step()) == SQLITE_ROW) {
    AlertHistoryEntry e;
    e.seq = static_cast<std::uint32_t>(r.ColInt(0));
    e.at_ns = r.ColInt(1);
    e.action = r.ColText(2);
    e.actor = r.ColText(3);
    e.detail = r.ColText(4);
    out.push_back(std::move(e));
  }
  if (rc != SQLITE_DONE) return Error(rc, fmt::format("reading the history of alert {}", id));
  return out;
}

Status SqliteAlertStore::PutSilence(const Silence& x) {
  std::lock_guard lock(mu_);
  SqliteRun r(upsert_silence_);
  r.Int(1, static_cast<std::int64_t>(x.id))
      .Text(2, x.sensor)
      .Text(3, x.site)
      .Text(4, x.zone)
      .Text(5, x.kind)
      .Text(6, x.priority ? PriorityName(*x.priority) : std::string_view())
      .Int(7, x.starts_at_ns)
      .Int(8, x.ends_at_ns)
      .Text(9, x.created_by)
      .Text(10, x.comment)
      .Int(11, x.created_at_ns)
      .Text(12, x.expired_by);
  return Exec(r, fmt::format("writing silence {}", x.id));
}

Result<std::vector<Silence>> SqliteAlertStore::ListSilences(std::size_t limit) const {
  std::lock_guard lock(mu_);
  SqliteRun r(list_silences_);
  r.Int(1, static_cast<std::int64_t>(limit));
  std::vector<Silence> out;
  if (Status s = ReadRows(r, ReadSilence, out); !s.ok()) return s;
  return out;
}

Result<std::vector<Silence>> SqliteAlertStore::LoadSilences(std::int64_t now_ns,
                                                            std::uint64_t* max_id) const {
  std::lock_guard lock(mu_);
  std::vector<Silence> out;
  {
    SqliteRun r(live_silences_);
    r.Int(1, now_ns);
    if (Status s = ReadRows(r, ReadSilence, out); !s.ok()) return s;
  }
  SqliteRun r(max_silence_id_);
  if (int rc = r.Step(); rc != SQLITE_ROW) return Error(rc, "reading the highest silence id");
  *max_id = static_cast<std::uint64_t>(r.ColInt(0));
  return out;
}

}  // namespace

Result<std::unique_ptr<AlertStore>> OpenSqliteAlertStore(const std::string& path) {
  auto store = std::make_unique<SqliteAlertStore>(path);
  if (Status s = store->Init(); !s.ok()) return s;
  return std::unique_ptr<AlertStore>(std::move(store));
}

}  // namespace aquawatch
