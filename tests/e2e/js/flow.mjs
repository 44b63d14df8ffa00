// Deregisters the shipped flow's first task twice with the AWS SDK for JavaScript v3, through
// HTTPS_PROXY (the SDK does not read it: the agent does), trusting NODE_EXTRA_CA_CERTS. Prints
// one JSON line per call: the answer's WindowTaskId, or the error's name and message.
import { SSMClient, DeregisterTaskFromMaintenanceWindowCommand } from "@aws-sdk/client-ssm";
import { NodeHttpHandler } from "@smithy/node-http-handler";
import { HttpsProxyAgent } from "https-proxy-agent";

const agent = new HttpsProxyAgent(process.env.HTTPS_PROXY);
const ssm = new SSMClient({
  requestHandler: new NodeHttpHandler({ httpsAgent: agent }),
  maxAttempts: 1,
});
const call = new DeregisterTaskFromMaintenanceWindowCommand({
  WindowId: "mw-0c50858d01e8a7b6f",
  WindowTaskId: "50772993-c6b5-4a2a-8d04-7bfd7e1a2b3c",
});
for (let i = 0; i < 2; i++) {
  try {
    const answer = await ssm.send(call);
    console.log(JSON.stringify({ WindowTaskId: answer.WindowTaskId }));
  } catch (error) {
    console.log(JSON.stringify({ error: error.name, message: error.message }));
  }
}
