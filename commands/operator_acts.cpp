#include "commands/operator_acts.h"

#include <nlohmann/json.hpp>

#include "events/registry.h"

namespace tally::commands {
namespace {

// One act on its own stream; the stream's state is the last act.
template <typename Act>
class RecordAct final : public Command {
public:
    RecordAct(Act act, std::string stream, std::string_view type, std::function<nlohmann::json(const Act&)> reply)
        : act_(std::move(act)), stream_(std::move(stream)), type_(type), reply_(std::move(reply)) {}
    std::vector<std::string> streams() const override { return {stream_}; }
    Decision decide(const std::map<std::string, StreamState>&, const DecideContext& ctx) const override {
        if (ctx.role != "admin") return Rejection{RejectionKind::forbidden, "forbidden", "only admins"};
        Accepted a;
        a.events.push_back({stream_, type_, 1, act_.SerializeAsString()});
        a.new_states[stream_] = act_.SerializeAsString();
        a.reply = [body = reply_(act_)](const std::vector<v1::EventEnvelope>& written) mutable {
            body["position"] = written.empty() ? 0 : written.back().position();
            return Reply{200, body.dump()};
        };
        return a;
    }

private:
    Act act_;
    std::string stream_, type_;
    std::function<nlohmann::json(const Act&)> reply_;
};

}  // namespace

std::unique_ptr<Command> record_rebuild(v1::ProjectionRebuilt act) {
    const std::string stream = "projection-" + act.projector();
    return std::make_unique<RecordAct<v1::ProjectionRebuilt>>(
        std::move(act), stream, events::kProjectionRebuilt, [](const v1::ProjectionRebuilt& a) {
            return nlohmann::json{{"projector", a.projector()}, {"events_replayed", a.events_replayed()}};
        });
}

std::unique_ptr<Command> retry_dead_letter(v1::DeadLetterRetried act) {
    const std::string stream = "dead-letter-" + std::to_string(act.call_id());
    return std::make_unique<RecordAct<v1::DeadLetterRetried>>(
        std::move(act), stream, events::kDeadLetterRetried, [](const v1::DeadLetterRetried& a) {
            return nlohmann::json{{"id", a.call_id()}, {"status", "pending"}, {"retried", true}};
        });
}

}  // namespace tally::commands
