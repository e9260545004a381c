#include "detect/replay.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

namespace aquawatch {
namespace {

constexpr std::int64_t kMinute = 60'000'000'000;
constexpr std::int64_t kT0 = 1'470'217'740'000'000'000;  // 2016-08-03T09:49:00Z

// Flags an event when the first parameter exceeds a threshold; records what it was given and
// fails the test if rows arrive out of time order or with the wrong parameter count.
class FakeDetector : public StationDetector {
 public:
  FakeDetector(std::vector<ParameterSpec> params, double threshold)
      : params_(std::move(params)), threshold_(threshold) {}
  RowVerdict Process(std::int64_t time_ns, const double* values) override {
    if (!times_.empty()) {
      EXPECT_GT(time_ns, times_.back()) << "row " << times_.size();
    }
    times_.push_back(time_ns);
    first_values_.push_back(values[0]);
    RowVerdict v;
    v.event = values[0] > threshold_;
    v.probability = v.event ? 1.0 : 0.0;
    v.max_z = values[0];
    return v;
  }
  const std::vector<ParameterSpec>& params() const override { return params_; }
  std::size_t StateBytes() const override { return 0; }

  std::vector<std::int64_t> times_;
  std::vector<double> first_values_;

 private:
  std::vector<ParameterSpec> params_;
  double threshold_;
};

// An input of `labels.size()` one-minute rows with a single parameter, for scoring tests.
ReplayInput LabelledInput(const std::vector<int>& labels) {
  ReplayInput in;
  in.params.push_back({.name = "x"});
  for (std::size_t r = 0; r < labels.size(); ++r) {
    in.time_ns.push_back(kT0 + static_cast<std::int64_t>(r) * kMinute);
    in.values.push_back(0);
    in.lines.push_back(static_cast<std::uint32_t>(r + 2));
    in.label.push_back(static_cast<std::int8_t>(labels[r]));
  }
  in.label_columns = {"EVENT"};
  in.column_labels = {in.label};
  in.missing = {0};
  in.unparsable = {0};
  return in;
}

CsvReadOptions WithLabels(std::vector<std::string> labels) {
  CsvReadOptions o;
  o.labels = std::move(labels);
  return o;
}

// ns since the epoch of a time the test knows is valid.
std::int64_t Time(std::string_view text, DateOrder order = DateOrder::kAuto) {
  auto t = ParseCsvTime(text, order);
  EXPECT_TRUE(t.ok()) << text;
  return t.ok() ? t.value() : 0;
}

std::vector<RowVerdict> Predictions(const std::vector<int>& predicted) {
  std::vector<RowVerdict> v(predicted.size());
  for (std::size_t r = 0; r < predicted.size(); ++r) v[r].event = predicted[r] != 0;
  return v;
}

TEST(ReplayCsv, ParsesGeccoRowsWithNaAndBadCells) {
  const std::string csv =
      "Time,Tp,Cl,pH,EVENT\n"
      "2016-08-03T09:49:00Z,6.5,0.17,8.36,FALSE\n"
      "2016-08-03T09:50:00Z,NA,,8.37,TRUE\n"
      "2016-08-03T09:51:00Z,6.6,abc,7.2x,false\n"
      "2016-08-03T09:52:00Z,6.7,0.18,+8.3,true\n";
  auto in = ReadReplayCsv(csv, WithLabels({"EVENT"}));
  ASSERT_TRUE(in.ok()) << in.status().ToString();
  ASSERT_EQ(in->rows(), 4u);
  ASSERT_EQ(in->params.size(), 3u);
  EXPECT_EQ(in->params[0].name, "Tp");
  EXPECT_EQ(in->time_column, "Time");
  EXPECT_EQ(in->time_format, "rfc3339");
  EXPECT_EQ(in->time_ns[0], kT0);
  EXPECT_EQ(in->time_ns[3], kT0 + 3 * kMinute);
  EXPECT_DOUBLE_EQ(in->row(0)[0], 6.5);
  EXPECT_TRUE(std::isnan(in->row(1)[0]));
  EXPECT_TRUE(std::isnan(in->row(1)[1]));
  EXPECT_TRUE(std::isnan(in->row(2)[1]));
  EXPECT_TRUE(std::isnan(in->row(2)[2]));
  EXPECT_DOUBLE_EQ(in->row(3)[2], 8.3);
  EXPECT_EQ(in->missing, (std::vector<std::size_t>{1, 1, 0}));
  EXPECT_EQ(in->unparsable, (std::vector<std::size_t>{0, 1, 1}));
  EXPECT_EQ(in->label, (std::vector<std::int8_t>{0, 1, 0, 1}));
  EXPECT_EQ(in->skipped_rows, 0u);
  EXPECT_EQ(in->lines, (std::vector<std::uint32_t>{2, 3, 4, 5}));
}

TEST(ReplayCsv, BadTimeRowIsSkippedWithItsLine) {
  const std::string csv =
      "Time,Tp\r\n"
      "2016-08-03T09:49:00Z,6.5\r\n"
      "\r\n"
      "yesterday,6.6\r\n"
      "2016-08-03T09:51:00Z,6.7,9\r\n"
      "2016-08-03T09:52:00Z,6.8\r\n";
  auto in = ReadReplayCsv(csv, {});
  ASSERT_TRUE(in.ok()) << in.status().ToString();
  EXPECT_EQ(in->rows(), 2u);
  EXPECT_EQ(in->skipped_rows, 2u);
  ASSERT_EQ(in->errors.size(), 2u);
  EXPECT_EQ(in->errors[0].line, 4u);
  EXPECT_NE(in->errors[0].reason.find("yesterday"), std::string::npos);
  EXPECT_EQ(in->errors[1].line, 5u);
  EXPECT_EQ(in->lines, (std::vector<std::uint32_t>{2, 6}));
  EXPECT_EQ(in->non_increasing_times, 0u);
}

TEST(ReplayCsv, KeepsOutOfOrderRowsInFileOrderAndCountsThem) {
  auto in = ReadReplayCsv(
      "t,x\n2016-08-03T09:49:00Z,1\n2016-08-03T09:49:00Z,2\n2016-08-03T09:48:00Z,3\n", {});
  ASSERT_TRUE(in.ok());
  EXPECT_EQ(in->rows(), 3u);
  EXPECT_EQ(in->non_increasing_times, 2u);
  EXPECT_DOUBLE_EQ(in->row(2)[0], 3);
}

TEST(ReplayCsv, SlashTimesMonthFirstAndDayFirst) {
  // CANARY: month first, seconds present.
  auto canary =
      ReadReplayCsv("TimeStep,B_CL2_VAL\n02/21/2006 00:00:00,3.27\n02/21/2006 00:20:00,3.28\n", {});
  ASSERT_TRUE(canary.ok()) << canary.status().ToString();
  EXPECT_EQ(canary->time_format, "mm/dd/yyyy");
  EXPECT_EQ(canary->time_ns[1], Time("2006-02-21T00:20:00Z"));

  // Leigh: day first (13/03 gives it away), one-digit hours, no seconds.
  auto leigh = ReadReplayCsv("Timestamp,Tur\n12/03/2017 0:42,0.99\n13/03/2017 1:42,2.72\n", {});
  ASSERT_TRUE(leigh.ok()) << leigh.status().ToString();
  EXPECT_EQ(leigh->time_format, "dd/mm/yyyy");
  EXPECT_EQ(leigh->time_ns[0], Time("2017-03-12T00:42:00Z"));
  EXPECT_EQ(leigh->time_ns[1], Time("2017-03-13T01:42:00Z"));

  EXPECT_EQ(Time("3/1/2017 7:05", DateOrder::kMonthFirst), Time("2017-03-01T07:05:00Z"));
  EXPECT_FALSE(ParseCsvTime("02/30/2017 00:00").ok());
  EXPECT_FALSE(ParseCsvTime("02/03/2017 24:00").ok());
  EXPECT_FALSE(ParseCsvTime("02/03/2017").ok());
  EXPECT_FALSE(ParseCsvTime("12345").ok());
}

TEST(ReplayCsv, LabelValuesAndUnknowns) {
  auto in = ReadReplayCsv(
      "t,x,EVENT\n"
      "2016-08-03T09:49:00Z,1,TRUE\n2016-08-03T09:50:00Z,1,FALSE\n"
      "2016-08-03T09:51:00Z,1,true\n2016-08-03T09:52:00Z,1,false\n"
      "2016-08-03T09:53:00Z,1,1\n2016-08-03T09:54:00Z,1,0\n"
      "2016-08-03T09:55:00Z,1,NA\n2016-08-03T09:56:00Z,1,maybe\n",
      WithLabels({"EVENT"}));
  ASSERT_TRUE(in.ok()) << in.status().ToString();
  EXPECT_EQ(in->label, (std::vector<std::int8_t>{1, 0, 1, 0, 1, 0, kLabelUnknown, kLabelUnknown}));
  EXPECT_EQ(in->bad_label_cells, 1u);
  ASSERT_EQ(in->params.size(), 1u);  // EVENT is not a parameter
}

TEST(ReplayCsv, MissingColumnsAreErrors) {
  const std::string csv = "Time,Tp,EVENT\n2016-08-03T09:49:00Z,6.5,FALSE\n";
  EXPECT_FALSE(ReadReplayCsv(csv, WithLabels({"LABEL"})).ok());
  CsvReadOptions no_time;
  no_time.time_column = "When";
  EXPECT_FALSE(ReadReplayCsv(csv, no_time).ok());
  CsvReadOptions no_param;
  no_param.params = {"Tp", "pH"};
  EXPECT_FALSE(ReadReplayCsv(csv, no_param).ok());
  EXPECT_FALSE(ReadReplayCsv("", {}).ok());
  EXPECT_FALSE(ReadReplayCsv("Time,EVENT\n", {}).ok());  // no parameter left
}

TEST(ReplayCsv, ExplicitParamsAndTimeColumn) {
  CsvReadOptions options;
  options.time_column = "when";
  options.params = {"c", "a"};
  auto in = ReadReplayCsv("a,when,b,c\n1,2016-08-03T09:49:00Z,2,3\n", options);
  ASSERT_TRUE(in.ok()) << in.status().ToString();
  ASSERT_EQ(in->params.size(), 2u);
  EXPECT_EQ(in->params[0].name, "c");
  EXPECT_DOUBLE_EQ(in->row(0)[0], 3);
  EXPECT_DOUBLE_EQ(in->row(0)[1], 1);
  EXPECT_EQ(in->time_ns[0], kT0);
}

TEST(ReplaySpecs, GeccoLeighAndCanaryNames) {
  const std::vector<double> none;
  ParameterSpec tp = SpecForColumn("Tp", none);
  EXPECT_DOUBLE_EQ(tp.resolution, 0.1);
  EXPECT_DOUBLE_EQ(tp.min_valid, -5);
  EXPECT_DOUBLE_EQ(tp.max_valid, 50);
  EXPECT_TRUE(tp.water_quality);
  EXPECT_DOUBLE_EQ(SpecForColumn("Trueb", none).resolution, 0.001);
  EXPECT_DOUBLE_EQ(SpecForColumn("Cl_2", none).resolution, 0.001);
  EXPECT_DOUBLE_EQ(SpecForColumn("Redox", none).min_valid, -1000);
  EXPECT_DOUBLE_EQ(SpecForColumn("pH", none).max_valid, 14);
  EXPECT_FALSE(SpecForColumn("Fm", none).water_quality);
  EXPECT_FALSE(SpecForColumn("Fm_2", none).water_quality);
  EXPECT_TRUE(SpecForColumn("Level", none).water_quality);
  EXPECT_DOUBLE_EQ(SpecForColumn("Tur", none).resolution, 0.01);
  EXPECT_DOUBLE_EQ(SpecForColumn("B_TURB_VAL", none).resolution, 0.001);
  EXPECT_DOUBLE_EQ(SpecForColumn("B_PLNT_CL2_VAL", none).resolution, 0.01);
  EXPECT_DOUBLE_EQ(SpecForColumn("B_COND_VAL", none).resolution, 0.1);
  const std::vector<double> pressure = {68, 69, 70, 68};
  ParameterSpec op = SpecForColumn("B_PRES_OP", pressure);
  EXPECT_FALSE(op.water_quality);
  EXPECT_DOUBLE_EQ(op.resolution, 1);
}

TEST(ReplaySpecs, UnknownColumnInfersResolution) {
  const std::vector<double> v = {1.25, NAN, 1.5, 1.25, 2.0, 1.75, 1.5};
  ParameterSpec s = SpecForColumn("nitrate", v);
  EXPECT_DOUBLE_EQ(s.resolution, 0.25);
  // Binary noise of decimal steps is rounded away.
  EXPECT_EQ(InferResolution(std::vector<double>{13.4, 13.5, 13.7}), 0.1);
  EXPECT_TRUE(s.water_quality);
  EXPECT_LT(s.min_valid, -1e299);
  EXPECT_GT(s.max_valid, 1e299);
  EXPECT_DOUBLE_EQ(InferResolution(std::vector<double>{3, 3, 3}), 1e-6);
  EXPECT_DOUBLE_EQ(InferResolution(std::vector<double>{0, 1e-9}), 1e-6);
  // Only the first 5000 values count.
  std::vector<double> many(6000, 1.0);
  many[5500] = 1.001;
  EXPECT_DOUBLE_EQ(InferResolution(many), 1e-6);
  many[10] = 1.5;
  EXPECT_DOUBLE_EQ(InferResolution(many), 0.5);
}

TEST(ReplaySpecs, CsvInfersResolutionOfUnknownColumns) {
  auto in = ReadReplayCsv(
      "t,Tp,nitrate\n2016-08-03T09:49:00Z,6.5,2.10\n2016-08-03T09:50:00Z,6.5,2.15\n"
      "2016-08-03T09:51:00Z,6.5,2.05\n",
      {});
  ASSERT_TRUE(in.ok());
  EXPECT_DOUBLE_EQ(in->params[0].resolution, 0.1);
  EXPECT_EQ(in->params[1].resolution, 0.05);
}

TEST(ReplayScore, RowLevelPrecisionRecallF1) {
  //                        events:   [2,4]          [8,9]
  ReplayInput in = LabelledInput({0, 0, 1, 1, 1, 0, 0, 0, 1, 1, 0, 0});
  auto v = Predictions({0, 1, 0, 1, 1, 1, 0, 0, 0, 0, 0, 1});
  ReplayScore s = ScoreReplay(in, v, {});
  EXPECT_TRUE(s.labelled);
  EXPECT_EQ(s.scored_rows, 12u);
  EXPECT_EQ(s.positives, 5u);
  EXPECT_EQ(s.predicted, 5u);
  EXPECT_EQ(s.true_positives, 2u);
  EXPECT_DOUBLE_EQ(s.precision, 2.0 / 5);
  EXPECT_DOUBLE_EQ(s.recall, 2.0 / 5);
  EXPECT_DOUBLE_EQ(s.f1, 2.0 / 5);
  EXPECT_EQ(s.events, 2u);
  EXPECT_EQ(s.events_detected, 1u);
  EXPECT_DOUBLE_EQ(s.event_recall, 0.5);
  EXPECT_DOUBLE_EQ(s.median_delay_rows, 1);  // first hit at row 3, event starts at 2
  EXPECT_DOUBLE_EQ(s.mean_delay_rows, 1);
  EXPECT_EQ(s.median_spacing_ns, kMinute);
  EXPECT_DOUBLE_EQ(s.median_delay_minutes, 1);
  // Runs: [1] alone (false), [3,5] overlaps the first event, [11] alone (false).
  EXPECT_EQ(s.false_alarms, 2u);
  EXPECT_DOUBLE_EQ(s.scored_days, 11.0 / (24 * 60));
  EXPECT_DOUBLE_EQ(s.false_alarms_per_day, 2 / s.scored_days);
}

TEST(ReplayScore, F1WithUnequalPrecisionAndRecall) {
  ReplayInput in = LabelledInput({1, 1, 1, 1, 0, 0, 0, 0});
  auto v = Predictions({1, 1, 1, 0, 1, 0, 0, 0});
  ReplayScore s = ScoreReplay(in, v, {});
  EXPECT_DOUBLE_EQ(s.precision, 0.75);
  EXPECT_DOUBLE_EQ(s.recall, 0.75);
  auto v2 = Predictions({0, 0, 1, 0, 0, 0, 0, 0});
  ReplayScore s2 = ScoreReplay(in, v2, {});
  EXPECT_DOUBLE_EQ(s2.precision, 1);
  EXPECT_DOUBLE_EQ(s2.recall, 0.25);
  EXPECT_DOUBLE_EQ(s2.f1, 2 * 1 * 0.25 / 1.25);
  EXPECT_DOUBLE_EQ(s2.median_delay_rows, 2);
  EXPECT_EQ(s2.false_alarms, 0u);
  ReplayScore none = ScoreReplay(in, Predictions({0, 0, 0, 0, 0, 0, 0, 0}), {});
  EXPECT_DOUBLE_EQ(none.precision, 0);
  EXPECT_DOUBLE_EQ(none.f1, 0);
  EXPECT_EQ(none.events_detected, 0u);
}

TEST(ReplayScore, DelaysMedianAndMeanOverDetectedEvents) {
  // Events at [1,3], [5,8], [10,12], [14,14]; detected after 0, 3 and 1 rows; the last missed.
  ReplayInput in = LabelledInput({0, 1, 1, 1, 0, 1, 1, 1, 1, 0, 1, 1, 1, 0, 1});
  auto v = Predictions({0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1, 1, 1, 0});
  ReplayScore s = ScoreReplay(in, v, {});
  EXPECT_EQ(s.events, 4u);
  EXPECT_EQ(s.events_detected, 3u);
  EXPECT_DOUBLE_EQ(s.event_recall, 0.75);
  EXPECT_DOUBLE_EQ(s.median_delay_rows, 1);
  EXPECT_DOUBLE_EQ(s.mean_delay_rows, 4.0 / 3);
  EXPECT_EQ(s.false_alarms, 0u);  // the run [11,13] overlaps the third event
}

TEST(ReplayScore, WindowAndUnknownLabelsLimitScoring) {
  ReplayInput in = LabelledInput({1, 1, 0, 0, 1, 1, -1, 0, 0, 1});
  auto v = Predictions({1, 1, 1, 0, 0, 1, 1, 1, 0, 0});
  ReplayOptions window;
  window.score_from_ns = kT0 + 3 * kMinute;  // rows 3..8
  window.score_to_ns = kT0 + 9 * kMinute;    // exclusive: row 9 is out
  ReplayScore s = ScoreReplay(in, v, window);
  // Scored sequence: rows 3,4,5,7,8 (row 6 has no label).
  EXPECT_EQ(s.scored_rows, 5u);
  EXPECT_EQ(s.positives, 2u);
  EXPECT_EQ(s.predicted, 2u);  // rows 5 and 7
  EXPECT_EQ(s.true_positives, 1u);
  EXPECT_EQ(s.events, 1u);
  EXPECT_EQ(s.events_detected, 1u);
  EXPECT_DOUBLE_EQ(s.median_delay_rows, 1);
  // In the sequence rows 5 and 7 are adjacent: one run, overlapping the event.
  EXPECT_EQ(s.false_alarms, 0u);
  EXPECT_DOUBLE_EQ(s.scored_days, 5.0 / (24 * 60));
}

TEST(ReplayScore, UnlabelledInputCountsAlarms) {
  ReplayInput in = LabelledInput({0, 0, 0, 0, 0});
  in.label.clear();
  in.column_labels.clear();
  in.label_columns.clear();
  ReplayScore s = ScoreReplay(in, Predictions({1, 0, 1, 1, 0}), {});
  EXPECT_FALSE(s.labelled);
  EXPECT_EQ(s.scored_rows, 5u);
  EXPECT_EQ(s.false_alarms, 2u);
  EXPECT_EQ(s.events, 0u);
}

TEST(ReplayScore, LeighPerTypeAndPerColumnRecall) {
  const std::string csv =
      "Timestamp,Level,Cond,Tur,label_Level,label_Cond,label_Tur,type_Level,type_Cond,type_Tur\n"
      "12/03/2017 0:00,1,100,9,0,0,1,0,0,E\n"
      "12/03/2017 1:00,1,100,1,0,0,1,0,0,E\n"
      "12/03/2017 2:00,1,100,9,0,1,1,0,L,L\n"
      "12/03/2017 3:00,1,100,1,0,1,0,0,H,0\n"
      "12/03/2017 4:00,1,100,1,0,0,0,0,0,0\n"
      "13/03/2017 5:00,1,100,9,1,1,1,K,K,K\n";
  auto in = ReadReplayCsv(csv, WithLabels({"label_Tur", "label_Cond", "label_Level"}));
  ASSERT_TRUE(in.ok()) << in.status().ToString();
  ASSERT_EQ(in->params.size(), 3u);  // label_* and type_* are not parameters
  EXPECT_EQ(in->params[2].name, "Tur");
  EXPECT_EQ(in->label, (std::vector<std::int8_t>{1, 1, 1, 1, 0, 1}));
  ASSERT_EQ(in->column_types.size(), 3u);
  EXPECT_EQ(in->column_types[1][3], "H");

  // Predict the rows where Tur > 5: rows 0, 2, 5.
  std::vector<RowVerdict> v(in->rows());
  for (std::size_t r = 0; r < in->rows(); ++r) v[r].event = in->row(r)[2] > 5;
  ReplayScore s = ScoreReplay(*in, v, {});
  ASSERT_EQ(s.type_recall.size(), 4u);
  EXPECT_EQ(s.type_recall[0].type, "E");
  EXPECT_EQ(s.type_recall[0].rows, 2u);
  EXPECT_DOUBLE_EQ(s.type_recall[0].recall, 0.5);
  EXPECT_EQ(s.type_recall[1].type, "H");
  EXPECT_DOUBLE_EQ(s.type_recall[1].recall, 0);
  EXPECT_EQ(s.type_recall[2].type, "K");
  EXPECT_EQ(s.type_recall[2].rows, 1u);  // once per row, though all three columns say K
  EXPECT_DOUBLE_EQ(s.type_recall[2].recall, 1);
  EXPECT_EQ(s.type_recall[3].type, "L");
  EXPECT_DOUBLE_EQ(s.type_recall[3].recall, 1);
  ASSERT_EQ(s.column_recall.size(), 3u);
  EXPECT_EQ(s.column_recall[0].type, "label_Tur");
  EXPECT_EQ(s.column_recall[0].rows, 4u);
  EXPECT_DOUBLE_EQ(s.column_recall[0].recall, 0.75);
  EXPECT_EQ(s.column_recall[1].type, "label_Cond");
  EXPECT_DOUBLE_EQ(s.column_recall[1].recall, 2.0 / 3);
  EXPECT_EQ(s.column_recall[2].rows, 1u);
}

TEST(Replay, CallsDetectorOncePerRowInFileOrder) {
  auto in = ReadReplayCsv(
      "Time,Tp,Cl,EVENT\n"
      "2016-08-03T09:49:00Z,1,0.1,FALSE\n"
      "2016-08-03T09:50:00Z,NA,0.1,FALSE\n"
      "2016-08-03T09:51:00Z,9,0.1,TRUE\n"
      "2016-08-03T09:52:00Z,9,0.1,TRUE\n"
      "2016-08-03T09:53:00Z,1,0.1,FALSE\n",
      WithLabels({"EVENT"}));
  ASSERT_TRUE(in.ok());
  FakeDetector detector(in->params, 5);
  ReplayResult result = Replay(*in, detector, {});
  ASSERT_EQ(detector.times_.size(), 5u);
  EXPECT_EQ(detector.times_, in->time_ns);
  EXPECT_TRUE(std::isnan(detector.first_values_[1]));
  ASSERT_EQ(result.verdicts.size(), 5u);
  EXPECT_DOUBLE_EQ(result.score.f1, 1);
  EXPECT_DOUBLE_EQ(result.score.median_delay_rows, 0);

  std::vector<DetectedEvent> events = DetectedEvents(*in, result.verdicts);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].first_row, 2u);
  EXPECT_EQ(events[0].last_row, 3u);
  EXPECT_TRUE(events[0].labelled);
  EXPECT_EQ(FormatEventsCsv(*in, events),
            "start,end,rows,max_probability,labelled\n"
            "2016-08-03T09:51:00Z,2016-08-03T09:52:00Z,2,1,1\n");
  std::string rows = FormatRowsCsv(*in, result.verdicts);
  EXPECT_EQ(
      rows.substr(0, rows.find('\n')),
      "time,event,probability,outliers,faults,spikes,missing,after_gap,thresholds,max_z,label");
  EXPECT_NE(rows.find("\n2016-08-03T09:51:00Z,1,1,0,0,0,0,0,0,9,1\n"), std::string::npos);
}

// A detector that looks ahead would need the next row before answering; this one checks that
// the row it is given is the only one it has seen beyond the previous ones.
TEST(Replay, ScoreWindowDoesNotHideEarlierRowsFromTheDetector) {
  ReplayInput in = LabelledInput({0, 0, 0, 1, 1, 0});
  for (std::size_t r = 0; r < in.rows(); ++r) in.values[r] = in.label[r] == 1 ? 9 : 0;
  FakeDetector detector(in.params, 5);
  ReplayOptions window;
  window.score_from_ns = kT0 + 2 * kMinute;
  ReplayResult result = Replay(in, detector, window);
  EXPECT_EQ(detector.times_.size(), 6u);
  EXPECT_EQ(result.score.scored_rows, 4u);
  EXPECT_DOUBLE_EQ(result.score.f1, 1);
}

TEST(ReplayTuning, SetsKnownFieldsAndRejectsBadOnes) {
  DetectorTuning t;
  EXPECT_TRUE(SetTuningField(t, "outlier_z", "8").ok());
  EXPECT_DOUBLE_EQ(t.outlier_z, 8);
  EXPECT_TRUE(SetTuningField(t, "window", "30").ok());
  EXPECT_EQ(t.window, 30);
  EXPECT_TRUE(SetTuningField(t, "flat_samples", "0").ok());
  EXPECT_TRUE(SetTuningField(t, "spike_filter", "1").ok());
  EXPECT_TRUE(t.spike_filter);
  EXPECT_FALSE(SetTuningField(t, "spike_filter", "2").ok());
  EXPECT_FALSE(SetTuningField(t, "drift_samples", "70000").ok());
  Status unknown = SetTuningField(t, "outlier_zz", "8");
  EXPECT_FALSE(unknown.ok());
  EXPECT_NE(unknown.message().find("outlier_zz"), std::string::npos);
  EXPECT_NE(unknown.message().find("outlier_z,"), std::string::npos);  // lists the known keys
  EXPECT_FALSE(SetTuningField(t, "window", "2.5").ok());
  EXPECT_FALSE(SetTuningField(t, "window", "0").ok());
  EXPECT_FALSE(SetTuningField(t, "baseline_alpha", "0").ok());
  EXPECT_FALSE(SetTuningField(t, "event_probability", "1").ok());
  EXPECT_FALSE(SetTuningField(t, "outlier_z", "abc").ok());
  EXPECT_EQ(t.window, 30);
  auto fields = TuningFields(t);
  ASSERT_EQ(fields.size(), 25u);  // every DetectorTuning field
  EXPECT_EQ(fields[3].first, "outlier_z");
  EXPECT_EQ(fields[3].second, "8");
  for (const auto& [k, v] : fields) {
    DetectorTuning u;
    EXPECT_TRUE(SetTuningField(u, k, v).ok()) << k << "=" << v;
  }
}

TEST(ReplayRules, AProfilesThresholdsApplyToCanonicalColumnsLikeTheServer) {
  const std::string csv =
      "time,ph,Redox\n"
      "2016-08-03T09:00:00Z,7.2,400\n"
      "2016-08-03T09:01:00Z,9.5,400\n"
      "2016-08-03T09:02:00Z,9.5,400\n"
      "2016-08-03T09:03:00Z,9.5,400\n"
      "2016-08-03T09:08:00Z,9.5,400\n"
      "2016-08-03T09:09:00Z,7.2,400\n";
  auto in = ReadReplayCsv(csv, {});
  ASSERT_TRUE(in.ok()) << in.status().ToString();
  const ProfileRules rules = DefaultProfileRules();
  auto run = [&](std::string_view profile) {
    auto detector = StationDetector::Create(in->params, DetectorTuning{});
    EXPECT_TRUE(detector.ok());
    ReplayOptions options;
    options.rules = &rules.For(*SiteProfileIndex(profile));
    options.predict = Predict::kEither;
    return Replay(*in, **detector, options);
  };
  // Treated drinking water: pH above 9.0 is critical at once.
  ReplayResult drinking = run("treated_drinking_water");
  EXPECT_EQ(drinking.ruled_columns, std::vector<std::string>{"ph"}) << "Redox is no canonical name";
  EXPECT_EQ(drinking.thresholds, (std::vector<std::uint32_t>{0, 1, 1, 1, 1, 0}));
  EXPECT_EQ(drinking.threshold_alerts, 1u);
  EXPECT_EQ(drinking.score.predicted, 4u) << "--predict any counts threshold rows";
  // Groundwater holds a pH crossing for 5 minutes first.
  ReplayResult groundwater = run("groundwater");
  EXPECT_EQ(groundwater.thresholds, (std::vector<std::uint32_t>{0, 0, 0, 0, 1, 0}));
  std::string rows = FormatRowsCsv(*in, groundwater.verdicts, groundwater.thresholds);
  EXPECT_NE(rows.find("\n2016-08-03T09:08:00Z,0,"), std::string::npos);
}

}  // namespace
}  // namespace aquawatch
