// tally-broker: a standalone embedded Kafka broker (librdkafka's mock cluster)
// for tests and for several tallyd processes sharing one log. Prints its
// bootstrap address on stdout and runs until SIGINT/SIGTERM. In memory only.
//
//   tally-broker [--topic tally.events] [--partitions 3]

#include <csignal>
#include <chrono>
#include <iostream>
#include <string>
#include <thread>

#include "infra/crash.h"
#include "infra/kafka.h"

namespace {
volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }
}  // namespace

int main(int argc, char** argv) {
    tally::infra::report_fatal_signals();
    std::string topic = "tally.events";
    int partitions = 3;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string k = argv[i];
        if (k == "--topic") topic = argv[i + 1];
        else if (k == "--partitions") partitions = std::stoi(argv[i + 1]);
    }
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    tally::kafka::MockCluster cluster(1);
    if (!cluster.ok() || !cluster.create_topic(topic, partitions)) {
        std::cerr << "cannot start the mock cluster\n";
        return 1;
    }
    std::cout << cluster.bootstraps() << std::endl;
    while (!g_stop) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    return 0;
}
