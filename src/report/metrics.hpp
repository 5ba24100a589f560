// The run's metrics for Prometheus: one set of metric families built from a progress snapshot,
// and the three ways they leave the process (prometheus-cpp's text serializer for all three):
//   --metrics [HOST:]PORT      scraped over HTTP while the run lasts (MetricsServer), and for
//                              --metrics-linger SEC after it, so the final values are seen;
//   --metrics-textfile PATH    node_exporter's textfile collector format, written at the end
//                              (a temporary file renamed over PATH: never read half-written);
//   --metrics-push URL         PUT to a Prometheus Pushgateway at the end.
#pragma once

#include <string>
#include <vector>

#include "report/progress.hpp"

namespace prometheus {
struct MetricFamily;
}

namespace vpipe::report {

// Every metric of the run. Counters keep their meaning across a scrape and a final write; gauges
// mean "now" (vpipe_fps is over the last few seconds, not since the start).
std::vector<prometheus::MetricFamily> metric_families(const ProgressSample& s);

// Prometheus text exposition format (version 0.0.4).
std::string prometheus_text(const ProgressSample& s);

// Writes `text` to `path` atomically (a temporary file beside it, renamed over it). Throws
// vpipe::Error (kOutput) naming --metrics-textfile when it cannot.
void write_textfile(const std::string& path, const std::string& text);

// A Pushgateway address: http://HOST:PORT[/metrics/job/NAME[/LABEL/VALUE]...]; without a path,
// the job is "vpipe". Throws vpipe::Error (kUsage) for anything else.
struct PushTarget {
  std::string host;
  int port = 0;
  std::string path;  // "/metrics/job/vpipe"
};
PushTarget parse_push_url(const std::string& url);

// PUTs `text` (replacing the group's metrics, as a batch job's last word should). Returns an
// empty string on success, else one line saying why not.
std::string push_metrics(const PushTarget& target, const std::string& text);

}  // namespace vpipe::report
