
import django.db.models.deletion
import uuid
from django.conf import settings
from django.db import migrations, models


def fill_uids(apps, schema_editor):
    ExportJob = apps.get_model("exports", "ExportJob")
    for pk in ExportJob.objects.filter(uid__isnull=True).values_list("pk", flat=True).iterator():
        ExportJob.objects.filter(pk=pk).update(uid=uuid.uuid4())


class Migration(migrations.Migration):

    dependencies = [
        ('exports', '0001_initial'),
        ('projects', '0001_initial'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='DeploymentIdentity',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('deployment_id', models.CharField(max_length=64, unique=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
            ],
        ),
        migrations.AddField(
            model_name='exportjob',
            name='lineage_key',
            field=models.CharField(blank=True, default='', max_length=1024),
        ),
        migrations.AddField(
            model_name='exportjob',
            name='uid',
            field=models.UUIDField(default=uuid.uuid4, editable=False, null=True),
        ),
        migrations.RunPython(fill_uids, migrations.RunPython.noop),
        migrations.AlterField(
            model_name='exportjob',
            name='uid',
            field=models.UUIDField(default=uuid.uuid4, editable=False, unique=True),
        ),
        migrations.AddField(
            model_name='exportjob',
            name='validation',
            field=models.JSONField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='exportjob',
            name='validation_key',
            field=models.CharField(blank=True, default='', max_length=1024),
        ),
        migrations.AlterField(
            model_name='exportjob',
            name='format',
            field=models.CharField(choices=[('jsonl', 'JSON Lines'), ('csv', 'CSV'), ('parquet', 'Parquet'), ('openai_chat', 'OpenAI fine-tuning (chat JSONL)'), ('openai_dpo', 'OpenAI preference fine-tuning (DPO JSONL)')], default='jsonl', max_length=16),
        ),
        migrations.AlterField(
            model_name='exportschedule',
            name='format',
            field=models.CharField(choices=[('jsonl', 'JSON Lines'), ('csv', 'CSV'), ('parquet', 'Parquet'), ('openai_chat', 'OpenAI fine-tuning (chat JSONL)'), ('openai_dpo', 'OpenAI preference fine-tuning (DPO JSONL)')], default='jsonl', max_length=16),
        ),
        migrations.CreateModel(
            name='ExportDestination',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(max_length=200)),
                ('kind', models.CharField(choices=[('local', "This deployment's export storage (a sub-folder)"), ('s3', 'S3-compatible bucket')], default='s3', max_length=8)),
                ('bucket', models.CharField(blank=True, default='', max_length=255)),
                ('prefix', models.CharField(default='assay-exports', help_text='Every object key starts with it; nothing is ever written outside it.', max_length=200)),
                ('endpoint_url', models.URLField(blank=True, default='', help_text='S3-compatible endpoint (empty: AWS).', max_length=500)),
                ('region', models.CharField(blank=True, default='', max_length=64)),
                ('credentials_encrypted', models.TextField(blank=True, default='', editable=False)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('project', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='export_destinations', to='projects.project')),
            ],
            options={
                'ordering': ['project', 'name'],
            },
        ),
        migrations.AddField(
            model_name='exportjob',
            name='destination',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='jobs', to='exports.exportdestination'),
        ),
        migrations.AddField(
            model_name='exportschedule',
            name='destination',
            field=models.ForeignKey(blank=True, help_text="Empty: the deployment's export storage.", null=True, on_delete=django.db.models.deletion.PROTECT, related_name='schedules', to='exports.exportdestination'),
        ),
        migrations.AddConstraint(
            model_name='exportdestination',
            constraint=models.UniqueConstraint(fields=('project', 'name'), name='uniq_export_destination_name'),
        ),
    ]
