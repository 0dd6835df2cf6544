/* Subcommands of the ferry binary. Each returns the process exit code. */
#ifndef FY_CMD_H
#define FY_CMD_H

int fy_cmd_synth(int argc, char **argv);
int fy_cmd_logits(int argc, char **argv);
int fy_cmd_run(int argc, char **argv);
int fy_cmd_tokenize(int argc, char **argv);
int fy_cmd_chat(int argc, char **argv);
int fy_cmd_plan(int argc, char **argv);
int fy_cmd_bench(int argc, char **argv);
int fy_cmd_bench_compare(int argc, char **argv);
int fy_cmd_sweep_bench(int argc, char **argv);
int fy_cmd_serve(int argc, char **argv);
int fy_cmd_batch(int argc, char **argv);
int fy_cmd_batched_bench(int argc, char **argv);

#endif
