#pragma once
// Loyalty commands. The program's definition (stream "program-loyalty"), and the
// customer's loyalty aggregate moved in the same batch as the order event that causes
// it: the order commands lock "loyalty-{owner}" and read the program, and call
// record_loyalty() for each fact their events carry. The re-tiering pass submits
// retier() per customer after a program change.

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "commands/loyalty_switch.h"
#include "commands/pipeline.h"
#include "domain/lifecycle.h"
#include "domain/loyalty.h"

namespace tally::commands {

struct ProgramState {
    v1::LoyaltyProgram program;
    int64_t version = 0;  // 0: none defined
    loyalty::Program view() const { return {version > 0 ? &program : nullptr, version}; }
};

ProgramState program_of(std::string_view bytes);

// The loyalty facts a lifecycle event carries, from the order's state before and after it.
std::vector<loyalty::Fact> loyalty_facts(const lifecycle::State& before, const lifecycle::State& after,
                                         const lifecycle::Event& event);

// Decides `fact` on the customer's loyalty stream (its latest state in `accepted`, else
// the locked one in `states`) and appends the events. REQUIRES: the loyalty stream is
// locked and the program stream read by the command.
void record_loyalty(Accepted& accepted, const std::string& customer_id,
                    const std::map<std::string, StreamState>& states, const loyalty::Fact& fact);

// The customer's loyalty discount and tier for a currency, as checkout and quotes apply it.
struct LoyaltyStanding {
    std::string tier;
    uint32_t discount_bps = 0;
};
LoyaltyStanding standing(std::string_view loyalty_state, std::string_view program_state, std::string_view currency);

// PUT /v1/loyalty/program: admins, employees with loyalty.manage.
std::unique_ptr<Command> define_loyalty_program(v1::LoyaltyProgram program);

// One customer re-tiered under the current program (the pass after a program change);
// nothing written when the tier already is the program's, or a hold is open.
std::unique_ptr<Command> retier(std::string customer_id);

}  // namespace tally::commands
