"""Create orderflow's local stack on a moto server, from template.yaml itself.

What is tested locally is what is deployed: the resources are not hand-made
with create_queue/create_table calls but created by moto's CloudFormation from
the same template `sam deploy` uses:

1. template.yaml is parsed and transformed SAM -> CloudFormation offline
   (deploy/sam_offline.py, shared with test_template_policies.py). The
   functions' CodeUri points at a tiny placeholder zip uploaded to a code
   bucket in moto (moto creates functions without Docker; only invoking one
   would need Docker, and the placeholder is not a runnable function).
2. cloudformation.create_stack on moto, with parameter overrides (default
   StageName=local), waiting for CREATE_COMPLETE.
3. moto's CloudFormation silently drops some resources and properties. Each
   gap is filled FROM THE SAME TRANSFORMED TEMPLATE (intrinsics resolved to
   the created physical ids) through the normal service APIs, and only after
   reading back the live state, so nothing moto did apply is applied again.
   Measured with moto 5.2: skipped resources AWS::SNS::Subscription,
   AWS::SQS::QueuePolicy, AWS::S3::BucketPolicy, AWS::CloudWatch::Alarm,
   AWS::CloudTrail::Trail (created with its advanced selectors; moto delivers
   no data events to EventBridge, so the manifest rule is checked offline);
   skipped properties S3 VersioningConfiguration, PublicAccessBlockConfiguration,
   OwnershipControls, LifecycleConfiguration, BucketEncryption.BucketKeyEnabled,
   DynamoDB PointInTimeRecoverySpecification, Lambda Tags. What moto cannot
   reproduce is reported on stderr as "not reproduced": Lambda Architectures
   and LoggingConfig, DynamoDB SSESpecification (no API changes them on moto),
   and the bucket policy: moto enforces bucket policies but ignores their
   Conditions, so the template's DenyInsecureTransport would deny every request;
   and the HTTP API (AWS::ApiGatewayV2::Api and ::Stage): moto's CloudFormation
   creates none, and moto would neither authenticate nor invoke through one
   (the Rust e2e tests drive the producer with API Gateway's event instead;
   the function's Lambda::Permission is created).
   The SQS event source mapping is created but then disabled: an enabled
   mapping makes moto try to invoke the placeholder function in Docker for
   every message, which fails and bumps the messages' receive count towards
   the DLQ. Locally the consumer polls the queue itself.
4. Prints (CLI) / returns (create_local_stack) what the Rust code needs:
   {"topic_arn", "queue_url", "dlq_url", "table_name", "bucket",
    "manifest_key", "refresh_seconds", "producer_function", "consumer_function",
    "decision_log_bucket"} (null unless DecisionLog=Enabled)
   from the stack's Outputs and its functions' environment. Queue URLs are
   the ones moto serves at the endpoint (same queues as the Outputs).

CLI:
  python deploy/local_stack.py --endpoint http://127.0.0.1:5000 \
      [--stack-name orderflow-local] [--region us-east-1] [-p KEY=VALUE ...]
JSON on stdout, progress on stderr. Running it again against the same server
and stack name reuses the stack (same parameters required) and re-checks it.
Dummy credentials (testing/testing) are used when none are set.

Needs the lint venv (deploy/.venv/lint: aws-sam-translator, boto3, moto[server]).

Modules, one job each:
  errors       LocalStackError
  clients      boto3 clients for the endpoint; waiting for it
  template     the transformed template, the placeholder code, parameters
  intrinsics   Ref / Fn::* / conditions resolved (pure; tested in test_intrinsics.py)
  attributes   Fn::GetAtt values read from moto
  context      the report of what was applied, and what each filler gets
  resources    whole resources moto skips (subscriptions, policies, alarms, metric filters, the trail)
  properties   properties moto drops (bucket, table, function, event source mapping)
  stack        create or re-check the stack, fill the gaps, the summary
  cli          the command line of deploy/local_stack.py
"""
