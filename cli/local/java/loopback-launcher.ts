// DynamoDB Local's own main class listens on every interface (DynamoDBProxyServer builds Jetty's `Server(int port)`)
// and has no bind-address option, so anyone on the network could rewrite the session table. This launcher, run in
// Java's source-file mode (`java -cp DynamoDBLocal.jar LoopbackDynamoDbLocal.java <options>`), builds the very server
// the jar's main class builds, from the same options, through the jar's public `ServerRunner.createServer`, moves its
// connector to 127.0.0.1 before it starts, and exits non-zero unless every listener is on loopback.
// It lives in a TypeScript string because esbuild bundles the CLI into one file: no .java file would ship with it.

/** The launcher's class; the source file must be named after it. */
export const LAUNCHER_CLASS = 'LoopbackDynamoDbLocal';

/** Exit status of the launcher when DynamoDB Local cannot be started on loopback only (any other failure: 1). */
export const NOT_LOOPBACK_EXIT = 3;

/** Written to a private temporary directory at start; source-file mode compiles it in memory (needs jdk.compiler). */
export const LAUNCHER_SOURCE = `import java.lang.reflect.Field;
import java.net.InetSocketAddress;
import java.nio.channels.ServerSocketChannel;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import software.amazon.dynamodb.services.local.main.CommandLineInput;
import software.amazon.dynamodb.services.local.main.ServerRunner;
import software.amazon.dynamodb.services.local.server.DynamoDBProxyServer;

/** DynamoDB Local from the jar on the class path, listening on 127.0.0.1 only (see cli/local/java/loopback-launcher.ts). */
public class ${LAUNCHER_CLASS} {
  private static final String LOOPBACK = "127.0.0.1";

  public static void main(String[] args) {
    DynamoDBProxyServer proxy = null;
    try {
      CommandLineInput input = new CommandLineInput(args);
      // false after -help or -version, as in the jar's own main class: nothing to start.
      if (!input.init()) System.exit(2);
      proxy = ServerRunner.createServer(input);
      // The jar keeps its Jetty server private; a later jar without this field fails here, closed, not open.
      Field field = DynamoDBProxyServer.class.getDeclaredField("server");
      field.setAccessible(true);
      Server server = (Server) field.get(proxy);
      Connector[] connectors = server.getConnectors();
      if (connectors.length == 0) throw new IllegalStateException("DynamoDB Local's Jetty server has no connector");
      for (Connector connector : connectors) {
        if (!(connector instanceof ServerConnector)) throw new IllegalStateException("unexpected Jetty connector " + connector);
        ((ServerConnector) connector).setHost(LOOPBACK);
      }
      // safeStart, not start: start() swallows a bind failure and leaves the JVM running without a listener.
      proxy.safeStart();
      for (Connector connector : connectors) {
        Object channel = ((ServerConnector) connector).getTransport();
        InetSocketAddress bound = channel instanceof ServerSocketChannel
          ? (InetSocketAddress) ((ServerSocketChannel) channel).getLocalAddress() : null;
        if (bound == null || !bound.getAddress().isLoopbackAddress()) {
          System.err.println("DynamoDB Local listens on " + bound + ", not on loopback only: stopping");
          proxy.stop();
          System.exit(${NOT_LOOPBACK_EXIT});
        }
        System.err.println("DynamoDB Local listening on " + bound.getAddress().getHostAddress() + ":" + bound.getPort());
      }
    } catch (Throwable e) {
      // The whole cause chain: a port taken meanwhile shows as java.net.BindException, which the caller retries.
      for (Throwable t = e; t != null; t = t.getCause()) System.err.println(t);
      try {
        if (proxy != null) proxy.stop();
      } catch (Throwable ignored) {
        // exiting anyway
      }
      System.exit(1);
    }
  }
}
`;
