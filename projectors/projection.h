#pragma once
// A read model: named tables and an idempotent batch apply. The runtime
// (runner.h) decides which events reach apply() and stores the checkpoint in the
// same transaction.

#include <map>
#include <string>
#include <vector>

#include "infra/sql.h"
#include "tally/v1/envelope.pb.h"

namespace tally::projectors {

// Logical table name -> the physical one (live, or the shadow during a rebuild).
using TableMap = std::map<std::string, std::string>;

class Projection {
public:
    virtual ~Projection() = default;
    virtual std::string name() const = 0;
    virtual std::vector<std::string> tables() const = 0;
    // Applies events (position order within each stream) to the tables in `t`. Issues no
    // statement for a batch it ignores, and has no effect but its statements: the runner
    // learns whether a batch matters by a dry run (runner.cpp, writes_anything).
    virtual void apply(sql::Tx& tx, const std::vector<v1::EventEnvelope>& events, const TableMap& t) const = 0;
    // False when the tables hold more than the log (e.g. the outcomes of provider calls):
    // such a projection is never rebuilt into shadow tables.
    virtual bool rebuildable() const { return true; }
};

}  // namespace tally::projectors
