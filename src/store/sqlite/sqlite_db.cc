#include "store/sqlite/sqlite_db.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace aquawatch {

Status SqliteStatus(sqlite3* db, int rc, std::string_view subsystem, std::string_view context) {
  std::string msg = fmt::format("{}: {}: {}", subsystem, context,
                                db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  switch (rc & 0xff) {
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return Status::Corruption(std::move(msg));
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Status::Unavailable(std::move(msg));
    case SQLITE_CONSTRAINT:
    case SQLITE_TOOBIG:
    case SQLITE_MISMATCH:
      return Status::InvalidArgument(std::move(msg));
    case SQLITE_CANTOPEN:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_PROTOCOL:
      return Status::IoError(std::move(msg));
    default:
      return Status::Internal(std::move(msg));
  }
}

Status SqliteStmt::Prepare(sqlite3* db, std::string_view sql) {
  sqlite3_finalize(s_);
  s_ = nullptr;
  int rc = sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()),
                              SQLITE_PREPARE_PERSISTENT, &s_, nullptr);
  if (rc != SQLITE_OK) return SqliteStatus(db, rc, "sqlite", fmt::format("prepare \"{}\"", sql));
  return Status::Ok();
}

Status SqliteTransactions::Prepare(sqlite3* db) {
  for (auto [stmt, sql] : {std::pair<SqliteStmt*, const char*>{&begin_, "BEGIN IMMEDIATE"},
                           {&commit_, "COMMIT"},
                           {&rollback_, "ROLLBACK"}}) {
    if (Status s = stmt->Prepare(db, sql); !s.ok()) return s;
  }
  return Status::Ok();
}

Status SqliteTransactions::Step(sqlite3* db, const SqliteStmt& stmt, std::string_view subsystem,
                                std::string_view what) {
  SqliteRun r(stmt);
  const int rc = SqliteStepAll(r);
  return rc == SQLITE_DONE ? Status::Ok() : SqliteStatus(db, rc, subsystem, what);
}

void SqliteTransactions::RollBack(sqlite3* db, std::string_view subsystem) const {
  if (Status s = Step(db, rollback_, subsystem, "ROLLBACK"); !s.ok()) {
    spdlog::error("{}: rollback failed: {}", subsystem, s.message());
  }
}

Result<SqliteHandle> OpenSqlite(const std::string& path, const SqliteOpenOptions& options) {
  sqlite3* raw = nullptr;
  int rc =
      sqlite3_open_v2(path.c_str(), &raw,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  SqliteHandle db(raw);  // a failed open may still allocate a handle that must be closed
  if (rc != SQLITE_OK) {
    return Status::IoError(fmt::format("{} {}: cannot open: {}", options.subsystem, path,
                                       raw != nullptr ? sqlite3_errmsg(raw) : sqlite3_errstr(rc)));
  }
  sqlite3_busy_timeout(db.get(), 5000);
  const auto fail = [&](int code, std::string_view what) {
    return SqliteStatus(db.get(), code, options.subsystem, fmt::format("{}: {}", path, what));
  };
  // Connection settings go outside any transaction, where SQLite requires them.
  {
    SqliteStmt st;
    if (Status s = st.Prepare(db.get(), "PRAGMA journal_mode = WAL"); !s.ok()) return s;
    SqliteRun r(st);
    rc = r.Step();
    if (rc != SQLITE_ROW) return fail(rc, "PRAGMA journal_mode");
    const std::string mode = r.ColText(0);
    if (mode != "wal" && path != ":memory:") {
      return Status::IoError(
          fmt::format("{} {}: cannot switch to WAL journal mode (SQLite kept '{}'); a network file "
                      "system? put it on a local disk",
                      options.subsystem, path, mode));
    }
  }
  const char* sync =
      options.sync_every_commit ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL";
  rc = sqlite3_exec(db.get(), sync, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return fail(rc, "PRAGMA synchronous");
  return db;
}

}  // namespace aquawatch
