// Small RAII helpers over the SQLite C API, shared by the SQLite files aquawatch keeps (the
// sensor catalog and the alert store): a connection opened with our settings, prepared
// statements, one execution of a statement, and the Status for a failed call.
//
// Thread-safety: none of their own. A connection and its statements belong to one owner, who
// serialises calls (both users hold one mutex per connection).
#pragma once

#include <sqlite3.h>

#include <cassert>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"

namespace aquawatch {

// The Status for a failed SQLite call on `db` (nullptr when there is no connection), as
// "<subsystem>: <context>: <SQLite's message>", with a code from the SQLite result code.
Status SqliteStatus(sqlite3* db, int rc, std::string_view subsystem, std::string_view context);

struct SqliteCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using SqliteHandle = std::unique_ptr<sqlite3, SqliteCloser>;

// How OpenSqlite sets up a connection.
struct SqliteOpenOptions {
  std::string_view subsystem;  // "catalog": starts every error message
  // NORMAL: a commit in WAL mode does not fsync (a power cut may lose the last commits); FULL:
  // every commit is on disk when it returns.
  bool sync_every_commit = false;
};

// Opens (creating if missing) the database at `path` with a 5 s busy timeout, WAL journal mode
// (IoError if SQLite cannot switch to it, except for ":memory:") and the synchronous level of
// `options`. Errors name the file.
Result<SqliteHandle> OpenSqlite(const std::string& path, const SqliteOpenOptions& options);

// A prepared statement, finalized on destruction.
class SqliteStmt {
 public:
  SqliteStmt() = default;
  SqliteStmt(const SqliteStmt&) = delete;
  SqliteStmt& operator=(const SqliteStmt&) = delete;
  ~SqliteStmt() { sqlite3_finalize(s_); }

  Status Prepare(sqlite3* db, std::string_view sql);
  sqlite3_stmt* get() const { return s_; }

 private:
  sqlite3_stmt* s_ = nullptr;
};

// One execution of a prepared statement. Binds parameters (1-based), steps, reads columns
// (0-based); on destruction resets the statement and clears its bindings so the next run starts
// clean. Text is bound without a copy: REQUIRES bound strings outlive the run.
class SqliteRun {
 public:
  explicit SqliteRun(const SqliteStmt& s) : s_(s.get()) {}
  SqliteRun(const SqliteRun&) = delete;
  SqliteRun& operator=(const SqliteRun&) = delete;
  ~SqliteRun() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }

  SqliteRun& Text(int i, std::string_view v) {  // "" stays '' (not NULL)
    Check(sqlite3_bind_text(s_, i, v.empty() ? "" : v.data(), static_cast<int>(v.size()),
                            SQLITE_STATIC));
    return *this;
  }
  SqliteRun& TextOrNull(int i, std::string_view v) { return v.empty() ? Null(i) : Text(i, v); }
  SqliteRun& Int(int i, std::int64_t v) {
    Check(sqlite3_bind_int64(s_, i, v));
    return *this;
  }
  SqliteRun& Real(int i, std::optional<double> v) {
    Check(v ? sqlite3_bind_double(s_, i, *v) : sqlite3_bind_null(s_, i));
    return *this;
  }
  SqliteRun& Null(int i) {
    Check(sqlite3_bind_null(s_, i));
    return *this;
  }

  // SQLITE_ROW, SQLITE_DONE or an error code.
  int Step() { return sqlite3_step(s_); }

  bool IsNull(int c) const { return sqlite3_column_type(s_, c) == SQLITE_NULL; }
  std::string ColText(int c) const {
    const unsigned char* p = sqlite3_column_text(s_, c);
    if (p == nullptr) return {};
    return std::string(reinterpret_cast<const char*>(p),
                       static_cast<std::size_t>(sqlite3_column_bytes(s_, c)));
  }
  std::int64_t ColInt(int c) const { return sqlite3_column_int64(s_, c); }
  std::optional<double> ColReal(int c) const {
    if (IsNull(c)) return std::nullopt;
    return sqlite3_column_double(s_, c);
  }

 private:
  // Binding fails only on a programming error (index out of range, text over 1 GB).
  static void Check(int rc) {
    assert(rc == SQLITE_OK);
    (void)rc;
  }
  sqlite3_stmt* s_;
};

// Steps `r` to its end, ignoring rows: SQLITE_DONE, or the code of the step that failed.
inline int SqliteStepAll(SqliteRun& r) {
  int rc;
  while ((rc = r.Step()) == SQLITE_ROW) {
  }
  return rc;
}

// BEGIN IMMEDIATE ... COMMIT around a body, rolled back when the body or the commit fails.
// BEGIN IMMEDIATE takes the write lock at once, so a transaction never fails halfway on a lock
// another process took after its reads. Prepared once per connection; same thread rules as it.
class SqliteTransactions {
 public:
  Status Prepare(sqlite3* db);

  // `body` returns a Status. Errors start with `subsystem`; a failed rollback is logged.
  template <typename Body>
  Status Run(sqlite3* db, std::string_view subsystem, Body&& body) const {
    if (Status s = Step(db, begin_, subsystem, "BEGIN"); !s.ok()) return s;
    Status s = body();
    if (s.ok()) s = Step(db, commit_, subsystem, "COMMIT");
    // After a failed COMMIT the transaction may or may not still be open.
    if (!s.ok() && sqlite3_get_autocommit(db) == 0) RollBack(db, subsystem);
    return s;
  }

 private:
  static Status Step(sqlite3* db, const SqliteStmt& stmt, std::string_view subsystem,
                     std::string_view what);
  void RollBack(sqlite3* db, std::string_view subsystem) const;

  SqliteStmt begin_, commit_, rollback_;
};

}  // namespace aquawatch
