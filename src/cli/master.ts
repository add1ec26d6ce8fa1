#!/usr/bin/env node
import { Command } from 'commander';
import { pino } from 'pino';
import { ConfigError, loadConfig } from '../server/config.ts';
import { initDataDir, Master, raftDir } from '../server/master.ts';

/**
 * mooseng-master: one master of a mooseng group.
 *
 *   mooseng-master init --config FILE    write the initial membership (the [[peers]] voters and
 *                                        learners) into a new data directory; once, on each
 *                                        founding member
 *   mooseng-master --config FILE         run the master (a data directory that was never
 *                                        initialised waits to be added to a group)
 *
 * Logs are JSON lines (pino) on stdout. SIGTERM or SIGINT stops the master cleanly; a leader hands
 * its leadership to the most up-to-date voter first.
 */
async function main(argv: string[]): Promise<void> {
  const program = new Command()
    .name('mooseng-master')
    .description('A master of a mooseng group: the MooseFS metadata, replicated with Raft')
    .option('-c, --config <file>', 'configuration file (TOML)')
    .enablePositionalOptions()
    .showHelpAfterError();

  program
    .command('init')
    .description('initialise a new data directory with the membership in the configuration')
    .requiredOption('-c, --config <file>', 'configuration file (TOML)')
    .action(async (opts: { config: string }) => {
      const { config } = await loadOrExit(opts.config);
      await initDataDir(config);
      process.stdout.write(
        `initialised ${raftDir(config)} for master ${config.nodeId} of cluster ${config.clusterId}: voters ${config.initialConfState.voters.join(', ')}` +
          (config.initialConfState.learners.length > 0 ? `, learners ${config.initialConfState.learners.join(', ')}` : '') +
          '\n',
      );
    });

  program.action(async (opts: { config?: string }) => {
    if (opts.config === undefined) {
      program.error('error: --config <file> is required');
      return;
    }
    const loaded = await loadOrExit(opts.config);
    const log = pino({ level: loaded.config.log.level, base: { node: loaded.config.nodeId } });
    let master: Master | undefined;
    const fatal = (e: unknown): void => {
      log.fatal({ err: e }, 'fatal error: exiting');
      // Flushing logs is best effort; the exit code tells the supervisor.
      setTimeout(() => process.exit(1), 50);
    };
    master = await Master.start({
      config: loaded.config,
      secret: loaded.secret.bytes(),
      adminToken: loaded.adminToken === undefined ? undefined : Buffer.from(loaded.adminToken.bytes()).toString('utf8'),
      log,
      onFatal: fatal,
    });
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, 'stopping');
      master!
        .stop()
        .then(() => process.exit(0))
        .catch((e: unknown) => fatal(e));
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('uncaughtException', (e) => fatal(e));
  });

  await program.parseAsync(argv);
}

async function loadOrExit(path: string): Promise<Awaited<ReturnType<typeof loadConfig>>> {
  try {
    return await loadConfig(path);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }
}

main(process.argv).catch((e: unknown) => {
  process.stderr.write(`mooseng-master: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
