// Fuzz target: event envelopes on the projector path. A projector takes each Kafka
// message as an EventEnvelope, decodes its payload by type (upcasting old versions),
// reads the ledger facts and passport facts from it, prints it for auditors, and the
// reconciler folds a stream's events through the domain's evolve functions. The first
// byte picks: below 128, the rest is the message as it came off the broker; else a
// known type (by the byte), a stream of one of the folded kinds, and the rest as the
// payload. Properties, on every input:
//  - decoding is deterministic and agrees with the registry (a known type whose payload
//    parses decodes; an unknown one does not);
//  - the auditor's JSON is valid JSON;
//  - an envelope sealed onto its stream verifies; one payload byte changed, it does not.
// Nothing may crash or trip an assertion, however the message is damaged.

#include <fuzzer/FuzzedDataProvider.h>
#include <nlohmann/json.hpp>

#include <string>

#include "domain/affiliate_payout.h"
#include "domain/credit.h"
#include "domain/loyalty.h"
#include "domain/order.h"
#include "domain/stock.h"
#include "events/envelope.h"
#include "events/passport_facts.h"
#include "events/registry.h"
#include "projectors/snapshot_fold.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using namespace tally;

std::string stream_of(FuzzedDataProvider& in) {
    const std::string id = in.ConsumeRandomLengthString(24);
    switch (in.ConsumeIntegralInRange<int>(0, 5)) {
        case 0: return order::stream_id(id);
        case 1: return credit::stream_id(id);
        case 2: return loyalty::stream_id(id);
        case 3: return stock::stream_id(id);
        case 4: return affiliate::payouts_stream(id);
        default: return id;
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1) return 0;
    v1::EventEnvelope e;
    if (data[0] < 128) {
        if (!e.ParseFromArray(data + 1, static_cast<int>(size - 1))) return 0;  // the runner skips it, logged
    } else {
        static const auto types = events::known_types();
        FuzzedDataProvider in(data + 1, size - 1);
        e.set_type(std::string(types[data[0] % types.size()]));
        e.set_stream_id(stream_of(in));
        e.set_stream_version(1);
        e.set_position(in.ConsumeIntegralInRange<int64_t>(1, 1'000'000));
        e.set_schema_version(in.ConsumeIntegralInRange<int>(0, 3));
        e.set_occurred_at_unix_ms(1'800'000'000'000 + in.ConsumeIntegralInRange<int64_t>(0, 1'000'000));
        e.set_payload(in.ConsumeRemainingBytesAsString());
    }

    auto decoded = events::decode_payload(e);
    auto again = events::decode_payload(e);
    TALLY_FUZZ_CHECK((decoded == nullptr) == (again == nullptr));
    if (decoded) TALLY_FUZZ_CHECK(decoded->SerializeAsString() == again->SerializeAsString());
    if (events::current_schema_version(e.type()) == 0) TALLY_FUZZ_CHECK(decoded == nullptr);

    const auto facts = events::ledger_facts(e);
    (void)events::postings_of(e);
    (void)events::status_after(e);
    (void)events::passport_facts(e, facts);

    const std::string printed = events::envelope_to_json(e);
    TALLY_FUZZ_CHECK(nlohmann::json::accept(printed));

    projectors::reconcile::StreamFold fold(e.stream_id());
    fold.add(e);
    (void)fold.finish(e.stream_version(), e.hash(), e.payload());

    // The hash chain: sealed onto the stream's start it verifies; one payload byte off, not.
    v1::EventEnvelope sealed = e;
    sealed.set_stream_version(1);
    events::seal(sealed, events::genesis_hash());
    TALLY_FUZZ_CHECK(!events::verify_stream({sealed}).has_value());
    if (!sealed.payload().empty()) {
        std::string payload = sealed.payload();
        payload[payload.size() / 2] ^= 0x01;
        sealed.set_payload(payload);
        TALLY_FUZZ_CHECK(events::verify_stream({sealed}).has_value());
    }
    return 0;
}
