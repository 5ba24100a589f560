// plan_cpus() as a decision table over hand-built topologies.
#include "affinity/cpu_plan.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/error.hpp"

namespace vpipe::affinity {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// `nb_cores` cores with `threads` PUs each, numbered as Linux numbers SMT siblings: core c
// has PUs c, c + nb_cores, c + 2 * nb_cores, ...
Topology smt_topology(int nb_cores, int threads, int numa_node = 0) {
  Topology topo;
  for (int c = 0; c < nb_cores; ++c) {
    Core core{numa_node, {}};
    for (int t = 0; t < threads; ++t) core.pus.push_back(c + t * nb_cores);
    topo.cores.push_back(core);
  }
  return topo;
}

std::vector<std::string> stage_names(const CpuPlan& plan) {
  std::vector<std::string> names;
  for (const StageCpus& s : plan.stages) names.push_back(s.stage);
  return names;
}

std::vector<std::string> expected_names(int nb_workers) {
  std::vector<std::string> names{"decode"};
  for (int i = 0; i < nb_workers; ++i) names.push_back("xform-" + std::to_string(i));
  names.push_back("encode");
  return names;
}

// "decode=0,16 xform-0=1,17 encode=2-15,18-31": the whole plan on one line for comparisons.
std::string to_text(const CpuPlan& plan) {
  std::string text;
  for (const StageCpus& s : plan.stages) {
    text += (text.empty() ? "" : " ") + s.stage + "=" + format_cpus(s.cpus);
  }
  return text;
}

std::string usage_error_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::kUsage) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no vpipe::Error was thrown";
  return {};
}

// ---- auto: one core per process ---------------------------------------------------------------

TEST(PlanCpusTest, AutoGivesEachWorkerACoreAndDecodeAndEncodeEveryCore) {
  const Topology topo = smt_topology(16, 2);

  const CpuPlan sut = plan_cpus(topo, 4, AffinityMode::kAuto);

  EXPECT_FALSE(sut.shared);
  EXPECT_EQ(to_text(sut),
            "decode=0-31 xform-0=0,16 xform-1=1,17 xform-2=2,18 xform-3=3,19 encode=0-31");
  EXPECT_THAT(sut.note, HasSubstr("4 workers on a core each; decode and encode threads on all 16"));
}

TEST(PlanCpusTest, StagesAreDecodeThenEachWorkerInOrderThenEncode) {
  for (AffinityMode mode : {AffinityMode::kAuto, AffinityMode::kNone}) {
    for (int nb_workers : {0, 1, 3, 14, 20}) {
      SCOPED_TRACE("workers " + std::to_string(nb_workers));

      const CpuPlan sut = plan_cpus(smt_topology(16, 2), nb_workers, mode);

      EXPECT_EQ(stage_names(sut), expected_names(nb_workers));
    }
  }
}

TEST(PlanCpusTest, WithEnoughCoresNoTwoWorkersShareAPuAndDecodeAndEncodeHaveEveryPu) {
  const Topology topo = smt_topology(16, 2);
  std::vector<int> every_pu;
  for (int pu = 0; pu < topo.nb_pus(); ++pu) every_pu.push_back(pu);
  for (int nb_workers = 0; nb_workers <= 14; ++nb_workers) {
    SCOPED_TRACE("workers " + std::to_string(nb_workers));

    const CpuPlan sut = plan_cpus(topo, nb_workers, AffinityMode::kAuto);

    ASSERT_FALSE(sut.shared);
    std::multiset<int> by_workers;
    for (const StageCpus& s : sut.stages) {
      EXPECT_FALSE(s.cpus.empty()) << s.stage << " is not pinned";
      if (s.stage == "decode" || s.stage == "encode") {
        EXPECT_EQ(s.cpus, every_pu) << s.stage;
      } else {
        EXPECT_EQ(s.cpus.size(), 2U) << s.stage << " has one core, both its PUs";
        by_workers.insert(s.cpus.begin(), s.cpus.end());
      }
    }
    EXPECT_EQ(std::set<int>(by_workers.begin(), by_workers.end()).size(), by_workers.size());
  }
}

TEST(PlanCpusTest, SmtSiblingsStayWithTheirCore) {
  const Topology topo = smt_topology(16, 2);
  for (int nb_workers = 0; nb_workers <= 14; ++nb_workers) {
    SCOPED_TRACE("workers " + std::to_string(nb_workers));

    const CpuPlan sut = plan_cpus(topo, nb_workers, AffinityMode::kAuto);

    std::map<int, std::string> stage_of_pu;  // the worker on each PU
    for (const StageCpus& s : sut.stages) {
      if (s.stage.rfind("xform-", 0) != 0) continue;
      for (int pu : s.cpus) stage_of_pu[pu] = s.stage;
    }
    for (const Core& core : topo.cores) {
      for (int pu : core.pus) {
        EXPECT_EQ(stage_of_pu[pu], stage_of_pu[core.pus.front()])
            << "PU " << pu << " is split from its sibling " << core.pus.front();
      }
    }
  }
}

TEST(PlanCpusTest, AsManyProcessesAsCoresPinsTheWorkersOnly) {
  const Topology topo = smt_topology(4, 1);

  const CpuPlan sut = plan_cpus(topo, 2, AffinityMode::kAuto);

  EXPECT_FALSE(sut.shared);
  EXPECT_EQ(to_text(sut), "decode=0-3 xform-0=0 xform-1=1 encode=0-3");
}

TEST(PlanCpusTest, TwoCoresWithoutWorkersGiveDecodeAndEncodeBoth) {
  const CpuPlan sut = plan_cpus(smt_topology(2, 1), 0, AffinityMode::kAuto);

  EXPECT_FALSE(sut.shared);
  EXPECT_EQ(to_text(sut), "decode=0-1 encode=0-1");
}

// ---- auto: more processes than cores ----------------------------------------------------------

TEST(PlanCpusTest, TwoCoresWithOneWorkerShareEveryCore) {
  const CpuPlan sut = plan_cpus(smt_topology(2, 1), 1, AffinityMode::kAuto);

  EXPECT_TRUE(sut.shared);
  EXPECT_EQ(to_text(sut), "decode=0-1 xform-0=0-1 encode=0-1");
  EXPECT_THAT(sut.note, HasSubstr("share"));
}

TEST(PlanCpusTest, OneCoreRunsEveryStageOnItsThreads) {
  const CpuPlan sut = plan_cpus(smt_topology(1, 2), 1, AffinityMode::kAuto);

  EXPECT_TRUE(sut.shared);
  EXPECT_EQ(to_text(sut), "decode=0-1 xform-0=0-1 encode=0-1");
}

TEST(PlanCpusTest, MoreWorkersThanCoresShareEveryCore) {
  const Topology topo = smt_topology(4, 2);

  const CpuPlan sut = plan_cpus(topo, 8, AffinityMode::kAuto);

  EXPECT_TRUE(sut.shared);
  ASSERT_EQ(sut.stages.size(), 10u);
  for (const StageCpus& s : sut.stages) {
    EXPECT_EQ(format_cpus(s.cpus), "0-7") << s.stage;
  }
}

// ---- NUMA ---------------------------------------------------------------------------------------

// Node 0: cores {0}, {1}; node 1: cores {2}, {3}, {4}, {5}. Node 0 is listed first.
Topology two_unequal_nodes() {
  Topology topo;
  for (int pu = 0; pu < 2; ++pu) topo.cores.push_back({0, {pu}});
  for (int pu = 2; pu < 6; ++pu) topo.cores.push_back({1, {pu}});
  return topo;
}

TEST(PlanCpusTest, WorkersComeFromTheLargerNumaNodeFirst) {
  const CpuPlan sut = plan_cpus(two_unequal_nodes(), 2, AffinityMode::kAuto);

  EXPECT_FALSE(sut.shared);
  EXPECT_EQ(to_text(sut), "decode=0-5 xform-0=2 xform-1=3 encode=0-5");
}

TEST(PlanCpusTest, ARunThatFitsTheLargerNodeKeepsItsWorkersOnIt) {
  Topology topo;  // node 1 (3 cores) and node 0 (2 cores), cores interleaved
  topo.cores = {{0, {0, 5}}, {1, {1, 6}}, {0, {2, 7}}, {1, {3, 8}}, {1, {4, 9}}};

  const CpuPlan sut = plan_cpus(topo, 3, AffinityMode::kAuto);

  EXPECT_EQ(to_text(sut), "decode=0-9 xform-0=1,6 xform-1=3,8 xform-2=4,9 encode=0-9");
}

TEST(PlanCpusTest, SharedPlanOnTwoNodesUsesEveryCore) {
  const CpuPlan sut = plan_cpus(two_unequal_nodes(), 6, AffinityMode::kAuto);

  EXPECT_TRUE(sut.shared);
  for (const StageCpus& s : sut.stages) EXPECT_EQ(format_cpus(s.cpus), "0-5") << s.stage;
}

// ---- none ---------------------------------------------------------------------------------------

TEST(PlanCpusTest, AffinityNoneLeavesEveryStageUnpinned) {
  const CpuPlan sut = plan_cpus(smt_topology(16, 2), 3, AffinityMode::kNone);

  EXPECT_FALSE(sut.shared);
  EXPECT_EQ(to_text(sut), "decode=any xform-0=any xform-1=any xform-2=any encode=any");
  EXPECT_THAT(sut.note, HasSubstr("none"));
}

TEST(PlanCpusTest, UnknownTopologyLeavesEveryStageUnpinned) {
  const CpuPlan sut = plan_cpus(Topology{}, 2, AffinityMode::kAuto);

  EXPECT_FALSE(sut.shared);
  EXPECT_EQ(to_text(sut), "decode=any xform-0=any xform-1=any encode=any");
}

// ---- default_workers ----------------------------------------------------------------------------

TEST(DefaultWorkersTest, LeavesOneCoreForDecodeAndOneForEncode) {
  EXPECT_EQ(default_workers(smt_topology(16, 2)), 14);
  EXPECT_EQ(default_workers(smt_topology(4, 1)), 2);
  EXPECT_EQ(default_workers(two_unequal_nodes()), 4);
}

TEST(DefaultWorkersTest, AChainWithoutFiltersGetsOneWorker) {
  EXPECT_EQ(default_workers(smt_topology(16, 2), /*has_filters=*/false), 1);
  EXPECT_EQ(default_workers(smt_topology(16, 2), /*has_filters=*/true), 14);
}

TEST(DefaultWorkersTest, IsAtLeastOneOnSmallMachines) {
  EXPECT_EQ(default_workers(smt_topology(3, 1)), 1);
  EXPECT_EQ(default_workers(smt_topology(2, 2)), 1);
  EXPECT_EQ(default_workers(smt_topology(1, 2)), 1);
  EXPECT_EQ(default_workers(Topology{}), 1);
}

TEST(DefaultWorkersTest, DefaultWorkersFillAMachineWithoutSharing) {
  const Topology topo = smt_topology(16, 2);

  const CpuPlan sut = plan_cpus(topo, default_workers(topo), AffinityMode::kAuto);

  EXPECT_FALSE(sut.shared);
  EXPECT_EQ(format_cpus(sut.stages.back().cpus), "0-31");
  EXPECT_EQ(format_cpus(sut.stages[14].cpus), "13,29");
}

TEST(TopologyTest, CountsEveryPuOfEveryCore) {
  EXPECT_EQ(smt_topology(16, 2).nb_pus(), 32);
  EXPECT_EQ(two_unequal_nodes().nb_pus(), 6);
  EXPECT_EQ(Topology{}.nb_pus(), 0);
}

// ---- format_cpus / parse_cpus -------------------------------------------------------------------

TEST(FormatCpusTest, WritesRunsAsRanges) {
  EXPECT_EQ(format_cpus({0, 1, 2, 3, 8}), "0-3,8");
  EXPECT_EQ(format_cpus({0, 1, 2, 4, 5, 6, 9}), "0-2,4-6,9");
  EXPECT_EQ(format_cpus({0, 1}), "0-1");
  EXPECT_EQ(format_cpus({1, 3, 5}), "1,3,5");
  EXPECT_EQ(format_cpus({7}), "7");
}

TEST(FormatCpusTest, WritesAnyForAnEmptyList) {
  EXPECT_EQ(format_cpus({}), "any");
}

TEST(ParseCpusTest, ReadsRangesAndSingleCpusSortedWithoutDuplicates) {
  EXPECT_THAT(parse_cpus("0-3,8"), ElementsAre(0, 1, 2, 3, 8));
  EXPECT_THAT(parse_cpus("8,0-1,1"), ElementsAre(0, 1, 8));
  EXPECT_THAT(parse_cpus("5"), ElementsAre(5));
}

TEST(ParseCpusTest, FormatOfParseGivesTheTextBack) {
  for (const std::string text : {"0-3,8", "1,3,5", "0-2,4-6,9", "12"}) {
    EXPECT_EQ(format_cpus(parse_cpus(text)), text);
  }
}

TEST(ParseCpusTest, RejectsMalformedLists) {
  for (const std::string text : {"", "a", "1,", ",1", "1-", "-1", "3-1", "1;2", "1 2", "5000"}) {
    SCOPED_TRACE("'" + text + "'");

    const std::string message = usage_error_of([&] { (void)parse_cpus(text); });

    EXPECT_THAT(message, HasSubstr("CPU list '" + text + "'"));
  }
}

// ---- plan_explicit ------------------------------------------------------------------------------

TEST(PlanExplicitTest, PinsNamedStagesAndLeavesTheOthersUnpinned) {
  const CpuPlan sut =
      plan_explicit(smt_topology(8, 1), 3, "decode=0;xform=1-3;xform-2=6;encode=4-5");

  EXPECT_FALSE(sut.shared);
  EXPECT_EQ(to_text(sut), "decode=0 xform-0=1-3 xform-1=1-3 xform-2=6 encode=4-5");
}

TEST(PlanExplicitTest, StagesNotNamedRunAnywhere) {
  const CpuPlan sut = plan_explicit(smt_topology(8, 1), 1, "encode=7");

  EXPECT_EQ(to_text(sut), "decode=any xform-0=any encode=7");
}

// With several outputs, each later output's encoder is a stage: encode's CPUs in the auto plan;
// named by "encode" with encode, or alone by "encode-N", in an explicit one.
TEST(PlanCpusTest, EachLaterOutputsEncoderHasEncodesCpus) {
  const CpuPlan sut = plan_cpus(smt_topology(8, 1), 2, AffinityMode::kAuto, 3);

  EXPECT_EQ(to_text(sut), "decode=0-7 xform-0=0 xform-1=1 encode=0-7 encode-1=0-7 encode-2=0-7");
  // Fewer cores than processes: the note counts the outputs' processes too.
  const CpuPlan shared = plan_cpus(smt_topology(2, 1), 1, AffinityMode::kAuto, 3);
  EXPECT_TRUE(shared.shared);
  EXPECT_EQ(shared.note, "5 processes on 2 cores: stages share all cores");
}

TEST(PlanExplicitTest, EncodeNamesEveryOutputsEncoderAndEncodeNOne) {
  const CpuPlan sut = plan_explicit(smt_topology(8, 1), 1, "encode=4-5;encode-2=6", 3);

  EXPECT_EQ(to_text(sut), "decode=any xform-0=any encode=4-5 encode-1=4-5 encode-2=6");
  const std::string message =
      usage_error_of([] { (void)plan_explicit(smt_topology(8, 1), 1, "encode-3=1", 3); });
  EXPECT_THAT(message, HasSubstr("no stage 'encode-3' (decode, xform, xform-N, encode, encode-N)"));
}

TEST(PlanExplicitTest, RejectsAnUnknownStage) {
  const std::string message =
      usage_error_of([] { (void)plan_explicit(smt_topology(8, 1), 1, "decode=0;resize=1"); });

  EXPECT_THAT(message, HasSubstr("no stage 'resize'"));
}

TEST(PlanExplicitTest, RejectsAWorkerBeyondTheWorkerCount) {
  const std::string message =
      usage_error_of([] { (void)plan_explicit(smt_topology(8, 1), 2, "xform-2=1"); });

  EXPECT_THAT(message, HasSubstr("no stage 'xform-2'"));
}

TEST(PlanExplicitTest, RejectsACpuThisMachineDoesNotHave) {
  const std::string message =
      usage_error_of([] { (void)plan_explicit(smt_topology(4, 1), 1, "encode=2-5"); });

  EXPECT_THAT(message, HasSubstr("CPU 4 for encode is not available"));
}

TEST(PlanExplicitTest, RejectsAnEntryWithoutCpus) {
  const std::string message =
      usage_error_of([] { (void)plan_explicit(smt_topology(4, 1), 1, "decode"); });

  EXPECT_THAT(message, HasSubstr("'decode' must be stage=cpus"));
}

}  // namespace
}  // namespace vpipe::affinity

// ---- the CPUs this process may use
// ---------------------------------------------------------------

namespace vpipe::affinity {
namespace {

TEST(CgroupQuota, ParsesCpuMax) {
  EXPECT_DOUBLE_EQ(*parse_cpu_max("200000 100000\n"), 2.0);
  EXPECT_DOUBLE_EQ(*parse_cpu_max("150000 100000"), 1.5);
  EXPECT_FALSE(parse_cpu_max("max 100000\n").has_value());
  EXPECT_FALSE(parse_cpu_max("").has_value());
  EXPECT_FALSE(parse_cpu_max("-1 100000").has_value());
  EXPECT_FALSE(parse_cpu_max("garbage").has_value());
}

TEST(CgroupQuota, KeepsWholeCoresForTheQuota) {
  Topology topo;
  for (int c = 0; c < 64; ++c) topo.cores.push_back(Core{0, {c}});
  EXPECT_EQ(limit_to_quota(topo, 2.0).cores.size(), 2U);
  EXPECT_EQ(limit_to_quota(topo, 1.5).cores.size(), 2U);
  EXPECT_EQ(limit_to_quota(topo, 0.2).cores.size(), 1U);
  EXPECT_EQ(limit_to_quota(topo, std::nullopt).cores.size(), 64U);
  EXPECT_EQ(limit_to_quota(topo, 100.0).cores.size(), 64U);
  // The plan says why it has fewer cores.
  EXPECT_EQ(limit_to_quota(topo, 1.5).limit_note,
            "the cgroup's CPU quota of 1.5 CPUs allows 2 of 64 cores");
  EXPECT_EQ(limit_to_quota(topo, 100.0).limit_note, "");
  // docker --cpus=2 on a 64-core host: 1 worker, not 62.
  EXPECT_EQ(default_workers(limit_to_quota(topo, 2.0)), 1);
}

}  // namespace
}  // namespace vpipe::affinity

namespace vpipe::affinity {
namespace {

TEST(MemoryLimitTest, ReadsCgroupTextAndIgnoresNoLimit) {
  EXPECT_EQ(parse_memory_max("536870912\n"), 536870912u);
  EXPECT_FALSE(parse_memory_max("max\n"));
  EXPECT_FALSE(parse_memory_max("9223372036854771712\n")) << "cgroup v1's 'no limit'";
  EXPECT_FALSE(parse_memory_max(""));
  EXPECT_FALSE(parse_memory_max("12abc"));
}

}  // namespace
}  // namespace vpipe::affinity
