#include "engine/routing.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>

namespace mb::engine {
namespace {

std::vector<int64_t> best_first(const std::vector<double>& v) {
  std::vector<int64_t> order(v.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return v[a] > v[b]; });
  return order;
}

}  // namespace

std::vector<std::pair<int64_t, double>> route_token(const bridge::ModelConfig& c, const float* logits,
                                                    const float* expert_bias) {
  const int64_t E = c.num_experts;
  std::vector<double> p(logits, logits + E);
  if (c.moe_score_function == "sigmoid") {
    for (double& x : p) x = 1.0 / (1.0 + std::exp(-x));
  } else {
    const double m = *std::max_element(p.begin(), p.end());
    double sum = 0;
    for (double& x : p) sum += (x = std::exp(x - m));
    for (double& x : p) x /= sum;
  }
  std::vector<double> choice = p;  // what experts are chosen by: the scores, plus the expert bias where given
  if (expert_bias)
    for (int64_t e = 0; e < E; ++e) choice[static_cast<size_t>(e)] += expert_bias[e];
  if (c.moe_router_num_groups > 1) {
    // group-limited: a group scores the sum of its best two (transformers' DeepseekV3); experts outside the
    // best moe_router_group_topk groups are chosen as if they scored 0
    const int64_t groups = c.moe_router_num_groups, per = E / groups;
    std::vector<double> group_score(static_cast<size_t>(groups));
    for (int64_t g = 0; g < groups; ++g) {
      std::vector<double> members(choice.begin() + g * per, choice.begin() + (g + 1) * per);
      std::sort(members.begin(), members.end(), std::greater<double>());
      for (int64_t i = 0; i < std::min<int64_t>(2, per); ++i) group_score[static_cast<size_t>(g)] += members[i];
    }
    std::vector<int64_t> kept = best_first(group_score);
    kept.resize(static_cast<size_t>(c.moe_router_group_topk));
    std::vector<double> masked(static_cast<size_t>(E), 0.0);
    for (int64_t g : kept)
      for (int64_t e = g * per; e < (g + 1) * per; ++e) masked[static_cast<size_t>(e)] = choice[static_cast<size_t>(e)];
    choice = masked;
  }
  std::vector<int64_t> order = best_first(choice);
  order.resize(static_cast<size_t>(c.moe_router_topk));
  double total = 0;
  for (int64_t e : order) total += p[static_cast<size_t>(e)];
  // sigmoid scores are renormalised as transformers does it (+1e-20 against an all-zero choice)
  if (c.moe_score_function == "sigmoid") total += 1e-20;
  std::vector<std::pair<int64_t, double>> out;
  for (int64_t e : order) {
    const double weight = c.moe_renormalize ? p[static_cast<size_t>(e)] / total : p[static_cast<size_t>(e)];
    out.emplace_back(e, weight * c.moe_router_topk_scaling.value_or(1.0));
  }
  return out;
}

}  // namespace mb::engine
