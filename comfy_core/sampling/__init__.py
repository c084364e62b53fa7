"""Sampling: model parameterisations, sigma schedules, seeded noise, sampler functions and CFG guiders.

Modules (import them directly; this package imports nothing at import time):
  protocols       DiffusionModel / ModelSamplingLike interfaces the guiders drive
  model_sampling  EPS / V_PREDICTION / EDM / X0 / CONST (flow) + discrete, flow and Flux tables
  schedulers      SCHEDULER_NAMES, calculate_sigmas and the schedule functions
  noise           prepare_noise, default/Brownian-tree noise samplers, RandomNoise / DisableNoise objects
  k_samplers, dpm_solvers, dpm_adaptive, multistep, exp_sde, uni_pc   the sample_<name> functions
  conds, cond_batch, guiders   conditioning batching, area/mask weighting, CFGGuider / BasicGuider / DualCFGGuider
  ksampler        SAMPLER_NAMES, KSAMPLER objects, KSampler, sample / sample_custom / common_ksampler
"""
